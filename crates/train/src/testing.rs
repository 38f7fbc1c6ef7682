//! What the unit tests of fitting and stepping share: a small task and a tiny model.

use std::path::Path;
use std::time::Duration;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;
use w2s_core::config::{Loss, TrainConfig};
use w2s_models::{BertConfig, ClassifierOptions, SequenceClassifier, random_classifier};

use crate::fit::FitSpec;

/// A small classification task: 36 training examples in batches of 8 (5 batches, the last
/// one short) for 3 epochs, 15 steps.
pub struct Task {
    pub train_ids: Vec<Vec<u32>>,
    pub train_labels: Vec<Vec<f64>>,
    pub val_ids: Vec<Vec<u32>>,
    pub val_labels: Vec<usize>,
    pub config: TrainConfig,
    pub loss: Loss,
}

pub const STEPS: usize = 15;

pub fn logconf() -> Loss {
    Loss::Logconf(w2s_core::config::LogconfConfig::default())
}

pub fn task() -> Task {
    let mut rng = StdRng::seed_from_u64(11);
    let mut examples = |n: usize| -> (Vec<Vec<u32>>, Vec<usize>) {
        (0..n)
            .map(|_| {
                let len = rand::Rng::random_range(&mut rng, 3..12);
                let ids: Vec<u32> = (0..len).map(|_| rand::Rng::random_range(&mut rng, 3..100)).collect();
                let class = (ids[0] % 2) as usize;
                (ids, class)
            })
            .unzip()
    };
    let (train_ids, train_classes) = examples(36);
    let (val_ids, val_labels) = examples(12);
    let train_labels = train_classes
        .iter()
        .map(|&c| if c == 0 { vec![0.9, 0.1] } else { vec![0.2, 0.8] })
        .collect();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 8,
        eval_batch_size: 16,
        lr: 1e-3,
        ..Default::default()
    };
    Task {
        train_ids,
        train_labels,
        val_ids,
        val_labels,
        config,
        loss: Loss::Xent,
    }
}

impl Task {
    pub fn spec<'a>(
        &'a self,
        seed: u64,
        checkpoint_dir: Option<&'a Path>,
        checkpoint_interval: Duration,
    ) -> FitSpec<'a> {
        FitSpec {
            stage: "test",
            train_ids: &self.train_ids,
            train_labels: &self.train_labels,
            val_ids: &self.val_ids,
            val_labels: &self.val_labels,
            config: &self.config,
            loss: &self.loss,
            seed,
            pad_id: 0,
            checkpoint_dir,
            checkpoint_interval,
            replicas: &[],
        }
    }
}

pub fn device() -> Device {
    Device::flex().autodiff()
}

/// A tiny random BERT classifier; the same every time.
pub fn tiny_model(dropout: f64) -> SequenceClassifier {
    tiny_model_on(dropout, &device())
}

pub fn tiny_model_on(dropout: f64, device: &Device) -> SequenceClassifier {
    let config = BertConfig {
        vocab_size: 100,
        hidden_size: 16,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        intermediate_size: 32,
        hidden_dropout_prob: dropout,
        attention_probs_dropout_prob: dropout,
        ..Default::default()
    };
    random_classifier(
        &config,
        &ClassifierOptions {
            dropout,
            ..Default::default()
        },
        device,
    )
}

/// Every float parameter, in module order.
pub fn weights<M: Module>(model: &M) -> Vec<f32> {
    struct Flatten(Vec<f32>);
    impl ModuleVisitor for Flatten {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.extend(param.val().into_data().iter::<f32>());
        }
    }
    let mut flatten = Flatten(Vec::new());
    model.visit(&mut flatten);
    flatten.0
}

pub fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The largest weight difference relative to the largest weight of `b`.
pub fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    max_difference(a, b) / b.iter().fold(0.0, |m: f32, w| m.max(w.abs()))
}
