//! A sequence classifier: a backbone of the zoo (BERT, MPNet, GPT-2), pooling, dropout,
//! linear head.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::activation::tanh;
use burn::tensor::{Int, Tensor};

use crate::bert::BertEncoder;
use crate::gpt2::Gpt2Model;
use crate::model_config::ModelConfig;
use crate::mpnet::MpnetEncoder;
use crate::ops::{dropout, linear};
use crate::pooling::{Pooling, last_token_state, mean_pool};
use crate::weights::{WeightSink, WeightSource};
use crate::{ModelError, ModelFamily};

/// HF name of the pooler's dense layer (weights `pooler.dense.weight` / `.bias`), under the
/// backbone prefix.
pub(crate) const POOLER: &str = "pooler.dense";

/// Where a family's sequence classifier keeps its parts in an HF checkpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HfLayout {
    /// Prefix of the backbone's tensors in `*ForSequenceClassification` checkpoints.
    pub prefix: &'static str,
    /// Name of the head (`{head}.weight`, and `{head}.bias` when `head_bias`).
    pub head: &'static str,
    pub head_bias: bool,
    /// Whether the pretrained model has a `pooler.dense` (needed for [`Pooling::Cls`]).
    pub has_pooler: bool,
    /// The `architectures` entry of a saved classifier.
    pub architecture: &'static str,
}

impl HfLayout {
    pub(crate) fn of(family: ModelFamily) -> Self {
        match family {
            ModelFamily::Bert => Self {
                prefix: "bert",
                head: "classifier",
                head_bias: true,
                has_pooler: true,
                architecture: "BertForSequenceClassification",
            },
            // HF's MPNetForSequenceClassification has a two-layer head on `<s>`
            // (`classifier.dense`, `classifier.out_proj`); w2s keeps one linear layer on
            // mean-pooled states, as for BERT, under `classifier.weight` / `.bias`.
            ModelFamily::Mpnet => Self {
                prefix: "mpnet",
                head: "classifier",
                head_bias: true,
                has_pooler: true,
                architecture: "MPNetForSequenceClassification",
            },
            ModelFamily::Gpt2 => Self {
                prefix: "transformer",
                head: "score",
                head_bias: false,
                has_pooler: false,
                architecture: "GPT2ForSequenceClassification",
            },
            // HF's LlamaForSequenceClassification. Not built yet: a Llama config.json is refused
            // as a classifier (see `ModelConfig::from_file`).
            ModelFamily::Llama => Self {
                prefix: "model",
                head: "score",
                head_bias: false,
                has_pooler: false,
                architecture: "LlamaForSequenceClassification",
            },
        }
    }

    /// The head, read from (or drawn by) `src`.
    pub(crate) fn build_head(
        &self,
        src: &mut impl WeightSource,
        hidden: usize,
        classes: usize,
    ) -> Result<Linear, ModelError> {
        if self.head_bias {
            src.linear(self.head, hidden, classes)
        } else {
            src.linear_no_bias(self.head, hidden, classes)
        }
    }
}

/// The transformer under the head: token ids in, hidden states out.
#[derive(Module, Debug)]
pub enum Backbone {
    /// HF `BertModel` (without pooler).
    Bert(BertEncoder),
    /// HF `MPNetModel` (without pooler).
    Mpnet(MpnetEncoder),
    /// HF `GPT2Model`.
    Gpt2(Gpt2Model),
}

impl Backbone {
    /// Build the backbone `config` describes from HF-named tensors.
    pub(crate) fn build(src: &mut impl WeightSource, config: &ModelConfig) -> Result<Self, ModelError> {
        Ok(match config {
            ModelConfig::Bert(c) => Self::Bert(BertEncoder::build(src, c)?),
            ModelConfig::Mpnet(c) => Self::Mpnet(MpnetEncoder::build(src, c)?),
            ModelConfig::Gpt2(c) => Self::Gpt2(Gpt2Model::build(src, c)?),
        })
    }

    fn export(&self, sink: &mut WeightSink) {
        match self {
            Self::Bert(m) => m.export(sink),
            Self::Mpnet(m) => m.export(sink),
            Self::Gpt2(m) => m.export(sink),
        }
    }

    /// Last hidden state `[batch, seq, hidden]`.
    pub fn forward(&self, input_ids: Tensor<2, Int>, attention_mask: Tensor<2, Int>) -> Tensor<3> {
        match self {
            Self::Bert(m) => m.forward(input_ids, attention_mask),
            Self::Mpnet(m) => m.forward(input_ids, attention_mask),
            Self::Gpt2(m) => m.forward(input_ids, attention_mask),
        }
    }

    /// The architecture family.
    pub fn family(&self) -> ModelFamily {
        match self {
            Self::Bert(_) => ModelFamily::Bert,
            Self::Mpnet(_) => ModelFamily::Mpnet,
            Self::Gpt2(_) => ModelFamily::Gpt2,
        }
    }

    fn max_seq_len(&self) -> usize {
        match self {
            Self::Bert(m) => m.max_seq_len(),
            Self::Mpnet(m) => m.max_seq_len(),
            Self::Gpt2(m) => m.max_seq_len(),
        }
    }

    fn vocab_size(&self) -> usize {
        match self {
            Self::Bert(m) => m.vocab_size(),
            Self::Mpnet(m) => m.vocab_size(),
            Self::Gpt2(m) => m.vocab_size(),
        }
    }

    fn hidden_size(&self) -> usize {
        match self {
            Self::Bert(m) => m.hidden_size(),
            Self::Mpnet(m) => m.hidden_size(),
            Self::Gpt2(m) => m.hidden_size(),
        }
    }

    fn num_layers(&self) -> usize {
        match self {
            Self::Bert(m) => m.num_layers(),
            Self::Mpnet(m) => m.num_layers(),
            Self::Gpt2(m) => m.num_layers(),
        }
    }
}

/// How to build the classifier on top of a pretrained encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierOptions {
    /// Number of output classes (at least 2).
    pub num_classes: usize,
    /// Dropout probability before the head (training only). The encoder's own dropout comes
    /// from `hidden_dropout_prob` / `attention_probs_dropout_prob` in its config.json.
    pub dropout: f64,
    /// Pooling of token states. When a saved classifier is loaded, it must be the pooling the
    /// head was trained with (see [`load_classifier`](crate::load_classifier)).
    pub pooling: Pooling,
    /// Seed of the initialisation of a fresh head (and pooler).
    pub head_seed: u64,
}

impl Default for ClassifierOptions {
    /// Binary classification, dropout 0.1, mean pooling, seed 0.
    fn default() -> Self {
        Self {
            num_classes: 2,
            dropout: 0.1,
            pooling: Pooling::Mean,
            head_seed: 0,
        }
    }
}

impl ClassifierOptions {
    /// Check the options, naming the offending field.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.num_classes < 2 {
            return Err(ModelError::InvalidArgument {
                field: "num_classes",
                message: format!("need at least 2 classes, got {}", self.num_classes),
            });
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::InvalidArgument {
                field: "dropout",
                message: format!("must be in [0, 1), got {}", self.dropout),
            });
        }
        Ok(())
    }
}

/// A batch of token sequences, padded to a common length.
#[derive(Debug, Clone)]
pub struct TokenBatch {
    /// Token ids `[batch, seq]`.
    pub input_ids: Tensor<2, Int>,
    /// `[batch, seq]`: 1 for a real token, 0 for padding.
    pub attention_mask: Tensor<2, Int>,
}

/// Backbone → pooling → dropout → `Linear(hidden, num_classes)` (without bias for GPT-2).
#[derive(Module, Debug)]
pub struct SequenceClassifier {
    encoder: Backbone,
    /// The pooler (dense + tanh on `[CLS]`); present only with [`Pooling::Cls`].
    pooler: Option<Linear>,
    dropout: Dropout,
    head: Linear,
    #[module(skip)]
    pooling: Pooling,
}

impl SequenceClassifier {
    /// Assemble a classifier from its parts; `pooler` must be present exactly when
    /// `opts.pooling` is [`Pooling::Cls`].
    pub(crate) fn new(encoder: Backbone, pooler: Option<Linear>, head: Linear, opts: &ClassifierOptions) -> Self {
        debug_assert_eq!(pooler.is_some(), opts.pooling == Pooling::Cls);
        Self {
            encoder,
            pooler,
            dropout: DropoutConfig::new(opts.dropout).init(),
            head,
            pooling: opts.pooling,
        }
    }

    /// Every parameter under its HF `*ForSequenceClassification` name (see [`HfLayout`]).
    pub(crate) fn export(&self, sink: &mut WeightSink) {
        let layout = HfLayout::of(self.family());
        let mut encoder = WeightSink::default();
        self.encoder.export(&mut encoder);
        if let Some(pooler) = &self.pooler {
            encoder.linear(POOLER, pooler);
        }
        sink.tensors.extend(
            encoder
                .tensors
                .into_iter()
                .map(|(name, t)| (format!("{}.{name}", layout.prefix), t)),
        );
        sink.linear(layout.head, &self.head);
    }

    /// The architecture family of the backbone.
    pub fn family(&self) -> ModelFamily {
        self.encoder.family()
    }

    /// Class logits `[batch, num_classes]`.
    pub fn forward(&self, batch: &TokenBatch) -> Tensor<2> {
        let pooled = self.pooled(batch);
        linear(&self.head, dropout(&self.dropout, pooled))
    }

    /// Last hidden state of the encoder `[batch, seq, hidden]`.
    pub fn encode(&self, batch: &TokenBatch) -> Tensor<3> {
        self.encoder
            .forward(batch.input_ids.clone(), batch.attention_mask.clone())
    }

    /// The pooled sequence representation `[batch, hidden]` that the head sees (before
    /// dropout).
    pub fn pooled(&self, batch: &TokenBatch) -> Tensor<2> {
        let hidden = self.encode(batch);
        match (&self.pooler, self.pooling) {
            (Some(pooler), Pooling::Cls) => tanh(linear(pooler, cls_state(hidden))),
            (_, Pooling::Last) => last_token_state(hidden, batch.attention_mask.clone()),
            _ => mean_pool(hidden, batch.attention_mask.clone()),
        }
    }

    /// Number of output classes.
    pub fn num_classes(&self) -> usize {
        self.head.weight.val().dims()[1]
    }

    /// The pooling this classifier uses.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Longest sequence the model accepts (its `max_position_embeddings`).
    pub fn max_seq_len(&self) -> usize {
        self.encoder.max_seq_len()
    }

    /// Vocabulary size of the encoder.
    pub fn vocab_size(&self) -> usize {
        self.encoder.vocab_size()
    }

    /// Width of the hidden states.
    pub fn hidden_size(&self) -> usize {
        self.encoder.hidden_size()
    }

    /// Number of encoder layers.
    pub fn num_layers(&self) -> usize {
        self.encoder.num_layers()
    }
}

/// The `[CLS]` (first) token state of each sequence: `[batch, hidden]`.
fn cls_state(hidden: Tensor<3>) -> Tensor<2> {
    let [batch, _, width] = hidden.dims();
    hidden.slice([0..batch, 0..1]).reshape([batch, width])
}
