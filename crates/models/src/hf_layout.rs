//! Loading and saving classifiers as HF-layout model directories.
//!
//! A directory holds `config.json`, `model.safetensors` and (usually) `tokenizer.json`;
//! config.json's `model_type` picks the family (bert, mpnet, gpt2). Saved classifiers use the
//! tensor names of HF `*ForSequenceClassification` (`bert.*` + `classifier.*`, `mpnet.*` +
//! `classifier.*`, `transformer.*` + `score.weight`), and their config.json adds
//! `num_labels`, `id2label`, `label2id` and `w2s_pooling`.
//!
//! An MPNet classifier is not loadable by HF `MPNetForSequenceClassification` as is: that
//! class puts a two-layer head on `<s>`, while w2s keeps one linear layer on mean-pooled
//! states (`classifier.weight` / `.bias`). Its backbone loads in `MPNetModel` unchanged.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use burn::nn::Linear;
use burn::tensor::Device;
use safetensors::{Dtype, View};
use serde_json::{Map, Value, json};

use crate::ModelError;
use crate::classifier::{Backbone, ClassifierOptions, HfLayout, POOLER, SequenceClassifier};
use crate::model_config::ModelConfig;
use crate::pooling::Pooling;
use crate::weights::{CheckpointReader, SeededInit, WeightSink, WeightSource};

/// File names of an HF-layout model directory.
pub const CONFIG_FILE: &str = "config.json";
/// See [`CONFIG_FILE`].
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// See [`CONFIG_FILE`].
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The config.json key recording the pooling of a saved classifier.
const POOLING_KEY: &str = "w2s_pooling";

/// Where a group of parameters came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamOrigin {
    /// Read from the checkpoint.
    Loaded,
    /// Not in the checkpoint: freshly initialised from this seed.
    Initialized {
        /// The seed (`ClassifierOptions::head_seed`).
        seed: u64,
    },
}

impl fmt::Display for ParamOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamOrigin::Loaded => f.write_str("loaded from the checkpoint"),
            ParamOrigin::Initialized { seed } => write!(f, "freshly initialised (seed {seed})"),
        }
    }
}

/// What [`load_classifier`] found and did; print it (it implements `Display`) so that a
/// fresh head or an unused tensor is never silent.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The model directory.
    pub dir: PathBuf,
    /// The model's config, as read from config.json (pass it to [`save_classifier`]).
    pub config: ModelConfig,
    /// Origin of the classification head.
    pub head: ParamOrigin,
    /// Origin of the pooler; `None` unless [`Pooling::Cls`].
    pub pooler: Option<ParamOrigin>,
    /// Tensors in model.safetensors that the classifier does not use (e.g. the pooler of a
    /// mean-pooling classifier, or `embeddings.position_ids`).
    pub unused_tensors: Vec<String>,
    /// Class names from config.json's `id2label`, when a saved classifier recorded them.
    pub class_names: Option<Vec<String>>,
    /// `tokenizer.json` of the directory, if it has one.
    pub tokenizer: Option<PathBuf>,
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "loaded {}: {}", self.dir.display(), self.config)?;
        writeln!(f, "  head: {}", self.head)?;
        if let Some(pooler) = self.pooler {
            writeln!(f, "  pooler: {pooler}")?;
        }
        if let Some(names) = &self.class_names {
            writeln!(f, "  classes: {}", names.join(", "))?;
        }
        if !self.unused_tensors.is_empty() {
            writeln!(f, "  unused tensors: {}", self.unused_tensors.join(", "))?;
        }
        Ok(())
    }
}

/// Load an HF-layout model directory (config.json + model.safetensors [+ tokenizer.json])
/// into a classifier on `device`.
///
/// Encoder weights must all be present and correctly shaped (the error names the tensor,
/// the expected and the found shape); they may carry the `bert.` prefix and old checkpoints'
/// `gamma`/`beta` LayerNorm names. If the directory holds a saved classifier (a
/// `classifier.weight` tensor), the head is loaded too, and its class count and pooling must
/// match `opts`; otherwise the head (and the pooler, for [`Pooling::Cls`] when the file has
/// none) is initialised deterministically from `opts.head_seed`. The returned [`LoadReport`]
/// says which, and lists the tensors of the file that were not used.
pub fn load_classifier(
    dir: &Path,
    opts: &ClassifierOptions,
    device: &Device,
) -> Result<(SequenceClassifier, LoadReport), ModelError> {
    opts.validate()?;
    let config_path = dir.join(CONFIG_FILE);
    let config = ModelConfig::from_file(&config_path)?;
    let layout = HfLayout::of(config.family());
    check_pooling(&config, opts.pooling)?;
    let saved = SavedHead::read(&config_path)?;

    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights_path).map_err(|e| ModelError::io("read", &weights_path, e))?;
    let mut reader = CheckpointReader::new(&weights_path, &bytes, layout.prefix, device)?;
    let encoder = Backbone::build(&mut reader, &config)?;

    let mut fresh = SeededInit::new(opts.head_seed, config.initializer_range(), device);
    let head_origin = if reader.contains(&format!("{}.weight", layout.head)) {
        saved.check_matches(dir, opts, config.hf_head_pooling())?;
        ParamOrigin::Loaded
    } else {
        ParamOrigin::Initialized { seed: opts.head_seed }
    };
    let (h, classes) = (config.hidden_size(), opts.num_classes);
    let head = match head_origin {
        ParamOrigin::Loaded => layout.build_head(&mut reader, h, classes)?,
        ParamOrigin::Initialized { .. } => layout.build_head(&mut fresh, h, classes)?,
    };

    let (pooler, pooler_origin) = load_pooler(&mut reader, &mut fresh, opts, h)?;

    let tokenizer = Some(dir.join(TOKENIZER_FILE)).filter(|p| p.is_file());
    let report = LoadReport {
        dir: dir.to_path_buf(),
        config,
        head: head_origin,
        pooler: pooler_origin,
        unused_tensors: reader.unused(),
        class_names: saved.class_names,
        tokenizer,
    };
    Ok((SequenceClassifier::new(encoder, pooler, head, opts), report))
}

/// The `[CLS]` pooler of [`Pooling::Cls`], from the file when it has one, else initialised from
/// the head's seed; none for the other poolings.
fn load_pooler(
    reader: &mut CheckpointReader<'_>,
    fresh: &mut SeededInit,
    opts: &ClassifierOptions,
    hidden: usize,
) -> Result<(Option<Linear>, Option<ParamOrigin>), ModelError> {
    if opts.pooling != Pooling::Cls {
        return Ok((None, None));
    }
    let origin = if reader.contains(&format!("{POOLER}.weight")) {
        ParamOrigin::Loaded
    } else {
        ParamOrigin::Initialized { seed: opts.head_seed }
    };
    Ok((
        Some(take_linear(reader, fresh, origin, POOLER, hidden, hidden)?),
        Some(origin),
    ))
}

/// [`Pooling::Cls`] needs a pooler, which GPT-2 does not have.
fn check_pooling(config: &ModelConfig, pooling: Pooling) -> Result<(), ModelError> {
    if pooling == Pooling::Cls && !HfLayout::of(config.family()).has_pooler {
        return Err(ModelError::InvalidArgument {
            field: "pooling",
            message: format!(
                "\"cls\" needs a pretrained pooler, which {} models do not have; use \"last\" or \"mean\"",
                config.family()
            ),
        });
    }
    Ok(())
}

/// A linear layer from the checkpoint or from the seeded initialiser, per `origin`.
fn take_linear(
    reader: &mut CheckpointReader<'_>,
    fresh: &mut SeededInit,
    origin: ParamOrigin,
    name: &str,
    d_in: usize,
    d_out: usize,
) -> Result<Linear, ModelError> {
    match origin {
        ParamOrigin::Loaded => reader.linear(name, d_in, d_out),
        ParamOrigin::Initialized { .. } => fresh.linear(name, d_in, d_out),
    }
}

/// What a saved classifier's config.json records about its head.
struct SavedHead {
    num_labels: Option<usize>,
    pooling: Option<Pooling>,
    class_names: Option<Vec<String>>,
}

impl SavedHead {
    fn read(config_path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(config_path).map_err(|e| ModelError::io("read", config_path, e))?;
        let json: Value = serde_json::from_str(&text).map_err(|error| ModelError::Json {
            path: config_path.into(),
            error,
        })?;
        let pooling = match json.get(POOLING_KEY) {
            None | Some(Value::Null) => None,
            Some(value) => Some(serde_json::from_value(value.clone()).map_err(|_| {
                ModelError::config(
                    config_path,
                    POOLING_KEY,
                    format!("{value} is not \"mean\", \"cls\" or \"last\""),
                )
            })?),
        };
        Ok(Self {
            num_labels: json.get("num_labels").and_then(Value::as_u64).map(|n| n as usize),
            pooling,
            class_names: class_names(&json),
        })
    }

    /// A saved head is only meaningful with the class count and pooling it was trained with.
    /// A head without `w2s_pooling` comes from HF (`hf_pooling`: the CLS pooler for BERT,
    /// the last token for GPT-2).
    fn check_matches(&self, dir: &Path, opts: &ClassifierOptions, hf_pooling: Pooling) -> Result<(), ModelError> {
        let pooling = self.pooling.unwrap_or(hf_pooling);
        if pooling != opts.pooling {
            return Err(ModelError::HeadMismatch {
                path: dir.into(),
                field: "pooling",
                saved: pooling.to_string(),
                requested: opts.pooling.to_string(),
            });
        }
        match self.num_labels {
            Some(saved) if saved != opts.num_classes => Err(ModelError::HeadMismatch {
                path: dir.into(),
                field: "num_classes",
                saved: saved.to_string(),
                requested: opts.num_classes.to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// `id2label` as a list ordered by id, if it is present and covers `0..n`.
fn class_names(json: &Value) -> Option<Vec<String>> {
    let map = json.get("id2label")?.as_object()?;
    (0..map.len())
        .map(|i| map.get(&i.to_string())?.as_str().map(String::from))
        .collect()
}

/// Save a classifier in HF layout to `dir`: model.safetensors (HF tensor names of the
/// family's `*ForSequenceClassification`, F32),
/// config.json (`config` plus `num_labels`, `id2label`, `label2id` and `w2s_pooling`), and
/// tokenizer.json copied from `tokenizer_src` if given.
///
/// The directory is written in a temporary sibling and renamed into place, so a crash never
/// leaves a half-written model directory; an existing `dir` is replaced.
pub fn save_classifier(
    model: &SequenceClassifier,
    config: impl Into<ModelConfig>,
    class_names: &[String],
    tokenizer_src: Option<&Path>,
    dir: &Path,
) -> Result<(), ModelError> {
    let config = config.into();
    check_save_args(model, &config, class_names, tokenizer_src)?;
    write_dir_atomically(dir, |staging| {
        write_model_files(model, &config, class_names, tokenizer_src, staging)
    })
}

/// Fill a temporary sibling of `dir` with `write`, then rename it into place (replacing an
/// existing `dir`), so that a crash never leaves a half-written model directory. The sibling is
/// removed when anything fails.
pub(crate) fn write_dir_atomically(
    dir: &Path,
    write: impl FnOnce(&Path) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    let staging = sibling(dir, "tmp")?;
    std::fs::create_dir_all(&staging).map_err(|e| ModelError::io("create", &staging, e))?;
    let written = write(&staging).and_then(|()| replace_dir(&staging, dir));
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

fn check_save_args(
    model: &SequenceClassifier,
    config: &ModelConfig,
    class_names: &[String],
    tokenizer_src: Option<&Path>,
) -> Result<(), ModelError> {
    config.validate()?;
    if config.family() != model.family() {
        return Err(ModelError::InvalidArgument {
            field: "config",
            message: format!("a {} config for a {} model", config.family(), model.family()),
        });
    }
    if class_names.len() != model.num_classes() {
        return Err(ModelError::InvalidArgument {
            field: "class_names",
            message: format!(
                "{} names for a classifier with {} classes",
                class_names.len(),
                model.num_classes()
            ),
        });
    }
    for (field, in_config, in_model) in [
        ("hidden size", config.hidden_size(), model.hidden_size()),
        ("vocab size", config.vocab_size(), model.vocab_size()),
        ("layer count", config.num_layers(), model.num_layers()),
        ("longest input", config.max_seq_len(), model.max_seq_len()),
    ] {
        if in_config != in_model {
            return Err(ModelError::InvalidArgument {
                field: "config",
                message: format!("the config's {field} is {in_config} but the model's is {in_model}"),
            });
        }
    }
    match tokenizer_src {
        Some(path) if !path.is_file() => Err(ModelError::io(
            "read",
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer file not found"),
        )),
        _ => Ok(()),
    }
}

fn write_model_files(
    model: &SequenceClassifier,
    config: &ModelConfig,
    class_names: &[String],
    tokenizer_src: Option<&Path>,
    out: &Path,
) -> Result<(), ModelError> {
    let mut sink = WeightSink::default();
    model.export(&mut sink);
    write_weights(&sink, &out.join(WEIGHTS_FILE))?;

    let config_path = out.join(CONFIG_FILE);
    let json = saved_config_json(config, class_names, model.pooling());
    let text = serde_json::to_string_pretty(&json).expect("config serializes") + "\n";
    std::fs::write(&config_path, text).map_err(|e| ModelError::io("write", &config_path, e))?;

    if let Some(src) = tokenizer_src {
        let dst = out.join(TOKENIZER_FILE);
        // `src` was checked to be a file: a failure is the write of `dst` (a full disk, say).
        std::fs::copy(src, &dst).map_err(|e| ModelError::io("write", &dst, e))?;
    }
    Ok(())
}

/// Write the tensors of `sink` to the safetensors file `path` (F32, HF names).
pub(crate) fn write_weights(sink: &WeightSink, path: &Path) -> Result<(), ModelError> {
    let views = sink
        .tensors
        .iter()
        .map(|(name, (shape, values))| (name.as_str(), F32View { shape, values }));
    let metadata = [("format".to_string(), "pt".to_string())].into_iter().collect();
    safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| match e {
        // A failed write (a full disk, say) is not a malformed file.
        safetensors::SafeTensorError::IoError(error) => ModelError::io("write", path, error),
        other => ModelError::Safetensors {
            path: path.into(),
            message: other.to_string(),
        },
    })
}

/// config.json of a saved classifier: the model config as the family's
/// `*ForSequenceClassification`.
fn saved_config_json(config: &ModelConfig, class_names: &[String], pooling: Pooling) -> Value {
    let mut map = config.to_json();
    let id2label: Map<String, Value> = class_names
        .iter()
        .enumerate()
        .map(|(i, name)| (i.to_string(), json!(name)))
        .collect();
    let label2id: Map<String, Value> = class_names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), json!(i)))
        .collect();
    map.insert("model_type".into(), json!(config.family().to_string()));
    map.insert(
        "architectures".into(),
        json!([HfLayout::of(config.family()).architecture]),
    );
    if let ModelConfig::Gpt2(c) = config {
        // GPT2ForSequenceClassification finds the last token through pad_token_id.
        map.insert("pad_token_id".into(), json!(c.pad_id()));
    }
    map.insert("num_labels".into(), json!(class_names.len()));
    map.insert("id2label".into(), Value::Object(id2label));
    map.insert("label2id".into(), Value::Object(label2id));
    map.insert(POOLING_KEY.into(), json!(pooling));
    Value::Object(map)
}

/// A hidden sibling of `dir` with a unique name, e.g. `.model.tmp-1234-56789`.
fn sibling(dir: &Path, tag: &str) -> Result<PathBuf, ModelError> {
    let name = dir.file_name().ok_or_else(|| ModelError::InvalidArgument {
        field: "dir",
        message: format!("{} has no final component", dir.display()),
    })?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let unique = format!(".{}.{tag}-{}-{nanos}", name.to_string_lossy(), std::process::id());
    Ok(dir.with_file_name(unique))
}

/// Move the finished `staging` directory to `dir`, replacing an existing one.
///
/// Each step is a rename: `dir` is at every moment either absent, the old directory or the
/// complete new one, never partly written.
fn replace_dir(staging: &Path, dir: &Path) -> Result<(), ModelError> {
    if !dir.exists() {
        return std::fs::rename(staging, dir).map_err(|e| ModelError::io("rename", staging, e));
    }
    let old = sibling(dir, "old")?;
    std::fs::rename(dir, &old).map_err(|e| ModelError::io("rename", dir, e))?;
    if let Err(e) = std::fs::rename(staging, dir) {
        let _ = std::fs::rename(&old, dir);
        return Err(ModelError::io("rename", staging, e));
    }
    std::fs::remove_dir_all(&old).map_err(|e| ModelError::io("remove", &old, e))
}

/// A borrowed row-major f32 tensor, as safetensors' [`View`].
struct F32View<'a> {
    shape: &'a [usize],
    values: &'a [f32],
}

impl View for F32View<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn data_len(&self) -> usize {
        self.values.len() * 4
    }
}

/// A classifier with random weights (no files needed), for tests and probes.
///
/// Every tensor is drawn as HF initialises these models (normal(0, `initializer_range`)
/// matrices, zero biases, unit LayerNorm scales) from `opts.head_seed`, so the same arguments
/// always give the same model.
///
/// # Panics
/// If `config` or `opts` is invalid (see [`ModelConfig::validate`],
/// [`ClassifierOptions::validate`]), or `opts.pooling` is [`Pooling::Cls`] for GPT-2.
pub fn random_classifier(
    config: impl Into<ModelConfig>,
    opts: &ClassifierOptions,
    device: &Device,
) -> SequenceClassifier {
    let config = config.into();
    config.validate().expect("random_classifier: invalid config");
    opts.validate().expect("random_classifier: invalid ClassifierOptions");
    check_pooling(&config, opts.pooling).expect("random_classifier: pooling");
    let mut init = SeededInit::new(opts.head_seed, config.initializer_range(), device);
    let encoder = Backbone::build(&mut init, &config).expect("random initialisation cannot fail");
    let h = config.hidden_size();
    let pooler = (opts.pooling == Pooling::Cls).then(|| init.linear(POOLER, h, h).expect("random init"));
    let head = HfLayout::of(config.family())
        .build_head(&mut init, h, opts.num_classes)
        .expect("random init");
    SequenceClassifier::new(encoder, pooler, head, opts)
}
