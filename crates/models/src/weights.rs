//! Where module parameters come from and go to.
//!
//! Modules are built from a [`WeightSource`] that hands out burn layers by HF tensor name:
//! a [`CheckpointReader`] reads them from a safetensors file, a [`SeededInit`] draws them at
//! random. Saving goes the other way through a [`WeightSink`]. Names are always the HF ones
//! and shapes are always given in HF layout (`Linear` weights `[out, in]`); the transposition
//! to burn's `[in, out]` happens here and nowhere else.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::{Device, Tensor, TensorData, bf16, f16};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safetensors::{Dtype, SafeTensors};

use crate::ModelError;
use crate::ops::LayerNorm;

/// Supplies the parameters of the layers of a model, by HF tensor name.
pub(crate) trait WeightSource {
    /// The device the parameters are created on.
    fn device(&self) -> &Device;

    /// The values of tensor `name` with HF-layout shape `shape`, row-major.
    fn tensor(&mut self, name: &str, shape: &[usize], role: Role) -> Result<Vec<f32>, ModelError>;

    /// `{prefix}.weight` `[d_out, d_in]` and `{prefix}.bias` `[d_out]` as a burn [`Linear`].
    fn linear(&mut self, prefix: &str, d_in: usize, d_out: usize) -> Result<Linear, ModelError> {
        let weight = self.tensor(&format!("{prefix}.weight"), &[d_out, d_in], Role::Weight)?;
        let bias = self.tensor(&format!("{prefix}.bias"), &[d_out], Role::Bias)?;
        let device = self.device().clone();
        Ok(Linear {
            weight: Param::from_data(TensorData::new(transpose(&weight, d_out, d_in), [d_in, d_out]), &device),
            bias: Some(Param::from_data(TensorData::new(bias, [d_out]), &device)),
        })
    }

    /// `{prefix}.weight` `[d_out, d_in]` without a bias, as a burn [`Linear`] (the head of
    /// `GPT2ForSequenceClassification`, `score`).
    fn linear_no_bias(&mut self, prefix: &str, d_in: usize, d_out: usize) -> Result<Linear, ModelError> {
        let weight = self.tensor(&format!("{prefix}.weight"), &[d_out, d_in], Role::Weight)?;
        Ok(Linear {
            weight: Param::from_data(
                TensorData::new(transpose(&weight, d_out, d_in), [d_in, d_out]),
                self.device(),
            ),
            bias: None,
        })
    }

    /// An HF `Conv1D` (GPT-2): `{prefix}.weight` stored `[d_in, d_out]`, which is already
    /// burn's layout, and `{prefix}.bias` `[d_out]`.
    fn conv1d(&mut self, prefix: &str, d_in: usize, d_out: usize) -> Result<Linear, ModelError> {
        let weight = self.tensor(&format!("{prefix}.weight"), &[d_in, d_out], Role::Weight)?;
        let bias = self.tensor(&format!("{prefix}.bias"), &[d_out], Role::Bias)?;
        let device = self.device().clone();
        Ok(Linear {
            weight: Param::from_data(TensorData::new(weight, [d_in, d_out]), &device),
            bias: Some(Param::from_data(TensorData::new(bias, [d_out]), &device)),
        })
    }

    /// `{prefix}.weight` `[rows, dim]` as a burn [`Embedding`].
    fn embedding(&mut self, prefix: &str, rows: usize, dim: usize) -> Result<Embedding, ModelError> {
        let weight = self.tensor(&format!("{prefix}.weight"), &[rows, dim], Role::Weight)?;
        let device = self.device().clone();
        Ok(Embedding {
            weight: Param::from_data(TensorData::new(weight, [rows, dim]), &device),
        })
    }

    /// `{prefix}.weight` (gamma) and `{prefix}.bias` (beta) as a [`LayerNorm`].
    fn layer_norm(&mut self, prefix: &str, dim: usize, eps: f64) -> Result<LayerNorm, ModelError> {
        let gamma = self.tensor(&format!("{prefix}.weight"), &[dim], Role::NormScale)?;
        let beta = self.tensor(&format!("{prefix}.bias"), &[dim], Role::Bias)?;
        let device = self.device().clone();
        let tensor = |values| Tensor::from_data(TensorData::new(values, [dim]), &device);
        Ok(LayerNorm::new(tensor(gamma), tensor(beta), eps))
    }
}

/// What a tensor is, which decides how [`SeededInit`] initialises it (as HF BERT does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Linear or embedding matrix: normal(0, initializer_range).
    Weight,
    /// Any bias: zeros.
    Bias,
    /// LayerNorm scale: ones.
    NormScale,
}

/// Row-major `[rows, cols]` to row-major `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (r, row) in values.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading a safetensors checkpoint
// ---------------------------------------------------------------------------------------------

/// Reads HF tensors from a parsed safetensors file, tracking which ones were used.
///
/// A name `x` is also found as `{prefix}.x` (the backbone prefix of `*For*` checkpoints:
/// `bert`, `mpnet`, `transformer`), and `*.LayerNorm.weight` / `*.LayerNorm.bias` also as the
/// `gamma` / `beta` of old checkpoints.
pub(crate) struct CheckpointReader<'a> {
    path: PathBuf,
    file: SafeTensors<'a>,
    used: BTreeSet<String>,
    device: Device,
    prefix: &'static str,
}

impl<'a> CheckpointReader<'a> {
    /// Parse `bytes`, the content of the safetensors file at `path`.
    pub(crate) fn new(path: &Path, bytes: &'a [u8], prefix: &'static str, device: &Device) -> Result<Self, ModelError> {
        let file = SafeTensors::deserialize(bytes).map_err(|e| ModelError::Safetensors {
            path: path.into(),
            message: e.to_string(),
        })?;
        Ok(Self {
            path: path.into(),
            file,
            used: BTreeSet::new(),
            device: device.clone(),
            prefix,
        })
    }

    /// Whether the file holds tensor `name` under any accepted spelling.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    /// The tensors in the file that no module asked for, sorted.
    pub(crate) fn unused(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .file
            .names()
            .into_iter()
            .filter(|n| !self.used.contains(*n))
            .map(String::from)
            .collect();
        names.sort();
        names
    }

    /// The names under which `name` may be stored, in order of preference.
    fn candidates(&self, name: &str) -> Vec<String> {
        let mut spellings = vec![name.to_string()];
        if let Some(stem) = name.strip_suffix("LayerNorm.weight") {
            spellings.push(format!("{stem}LayerNorm.gamma"));
        } else if let Some(stem) = name.strip_suffix("LayerNorm.bias") {
            spellings.push(format!("{stem}LayerNorm.beta"));
        }
        let prefixed: Vec<String> = spellings.iter().map(|s| format!("{}.{s}", self.prefix)).collect();
        spellings.extend(prefixed);
        spellings
    }

    fn resolve(&self, name: &str) -> Option<String> {
        let names: BTreeSet<&str> = self.file.names().into_iter().collect();
        self.candidates(name).into_iter().find(|c| names.contains(c.as_str()))
    }

    fn missing(&self, name: &str) -> ModelError {
        let alternatives = self.candidates(name)[1..]
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>();
        ModelError::MissingTensor {
            path: self.path.clone(),
            name: name.into(),
            alternatives: alternatives.join(", "),
        }
    }
}

impl WeightSource for CheckpointReader<'_> {
    fn device(&self) -> &Device {
        &self.device
    }

    fn tensor(&mut self, name: &str, shape: &[usize], _role: Role) -> Result<Vec<f32>, ModelError> {
        let stored = self.resolve(name).ok_or_else(|| self.missing(name))?;
        let view = self.file.tensor(&stored).expect("resolved name exists");
        if view.shape() != shape {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                name: stored,
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let values = decode_f32(view.dtype(), view.data()).ok_or_else(|| ModelError::UnsupportedDtype {
            path: self.path.clone(),
            name: stored.clone(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFiniteWeight {
                path: self.path.clone(),
                name: stored,
                index,
                value: values[index],
            });
        }
        self.used.insert(stored);
        Ok(values)
    }
}

/// Little-endian F32, F16 or BF16 bytes as `f32`s; `None` for any other dtype.
fn decode_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let halves = || bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(halves().map(|h| f16::from_bits(h).to_f32()).collect()),
        Dtype::BF16 => Some(halves().map(|h| bf16::from_bits(h).to_f32()).collect()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Seeded random initialisation
// ---------------------------------------------------------------------------------------------

/// Draws fresh parameters the way HF initialises BERT: matrices normal(0, `std`), biases
/// zero, LayerNorm scales one.
///
/// Each tensor gets its own random stream, seeded from `(seed, tensor name)`, so a tensor's
/// initial value depends only on the seed and its name, not on what else is initialised.
pub(crate) struct SeededInit {
    seed: u64,
    std: f64,
    device: Device,
}

impl SeededInit {
    pub(crate) fn new(seed: u64, std: f64, device: &Device) -> Self {
        Self {
            seed,
            std,
            device: device.clone(),
        }
    }

    fn stream(&self, name: &str) -> StdRng {
        // FNV-1a over the name, mixed with the seed.
        let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        StdRng::seed_from_u64(self.seed ^ hash.rotate_left(17))
    }
}

impl WeightSource for SeededInit {
    fn device(&self) -> &Device {
        &self.device
    }

    fn tensor(&mut self, name: &str, shape: &[usize], role: Role) -> Result<Vec<f32>, ModelError> {
        let len = shape.iter().product();
        Ok(match role {
            Role::Bias => vec![0.0; len],
            Role::NormScale => vec![1.0; len],
            Role::Weight => normal_samples(&mut self.stream(name), len, self.std),
        })
    }
}

/// `len` draws from normal(0, std) (Box-Muller).
fn normal_samples(rng: &mut StdRng, len: usize, std: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(len + 1);
    while out.len() < len {
        let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
        let u2: f64 = rng.random();
        let radius = (-2.0 * u1.ln()).sqrt() * std;
        let angle = std::f64::consts::TAU * u2;
        out.push((radius * angle.cos()) as f32);
        out.push((radius * angle.sin()) as f32);
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

/// Collects a model's parameters under HF names and layouts, for writing to safetensors.
#[derive(Default)]
pub(crate) struct WeightSink {
    /// HF name -> (HF shape, row-major values).
    pub(crate) tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl WeightSink {
    /// A tensor as `name`, in its own (already HF) layout.
    pub(crate) fn put<const D: usize>(&mut self, name: String, tensor: Tensor<D>) {
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().try_into_vec_as::<f32>().expect("f32 tensor data");
        self.tensors.insert(name, (shape, values));
    }

    /// A [`Linear`] as `{prefix}.weight` `[d_out, d_in]` and `{prefix}.bias`.
    pub(crate) fn linear(&mut self, prefix: &str, linear: &Linear) {
        let [d_in, d_out] = linear.weight.dims();
        let weight = linear
            .weight
            .val()
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("f32 tensor data");
        self.tensors.insert(
            format!("{prefix}.weight"),
            (vec![d_out, d_in], transpose(&weight, d_in, d_out)),
        );
        if let Some(bias) = &linear.bias {
            self.put(format!("{prefix}.bias"), bias.val());
        }
    }

    /// A [`Linear`] as an HF `Conv1D`: `{prefix}.weight` `[d_in, d_out]` and `{prefix}.bias`.
    pub(crate) fn conv1d(&mut self, prefix: &str, linear: &Linear) {
        self.put(format!("{prefix}.weight"), linear.weight.val());
        if let Some(bias) = &linear.bias {
            self.put(format!("{prefix}.bias"), bias.val());
        }
    }

    /// An [`Embedding`] as `{prefix}.weight`.
    pub(crate) fn embedding(&mut self, prefix: &str, embedding: &Embedding) {
        self.put(format!("{prefix}.weight"), embedding.weight.val());
    }

    /// A [`LayerNorm`] as `{prefix}.weight` and `{prefix}.bias`.
    pub(crate) fn layer_norm(&mut self, prefix: &str, norm: &LayerNorm) {
        self.put(format!("{prefix}.weight"), norm.gamma.val());
        if let Some(beta) = &norm.beta {
            self.put(format!("{prefix}.bias"), beta.val());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_round_trips() {
        let values: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let t = transpose(&values, 2, 3);
        assert_eq!(t, vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        assert_eq!(transpose(&t, 3, 2), values);
    }

    #[test]
    fn decodes_half_precision() {
        let f16_bytes: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        assert_eq!(decode_f32(Dtype::F16, &f16_bytes), Some(vec![1.5, -2.0]));
        let bf16_bytes: Vec<u8> = [0.25f32, 3.0]
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect();
        assert_eq!(decode_f32(Dtype::BF16, &bf16_bytes), Some(vec![0.25, 3.0]));
        assert_eq!(decode_f32(Dtype::I64, &[0; 8]), None);
    }

    #[test]
    fn seeded_init_depends_only_on_seed_and_name() {
        let device = Device::flex();
        let mut a = SeededInit::new(7, 0.02, &device);
        let mut b = SeededInit::new(7, 0.02, &device);
        let first = a.tensor("x.weight", &[4, 4], Role::Weight).unwrap();
        b.tensor("other.weight", &[3], Role::Weight).unwrap();
        assert_eq!(b.tensor("x.weight", &[4, 4], Role::Weight).unwrap(), first);
        let mut c = SeededInit::new(8, 0.02, &device);
        assert_ne!(c.tensor("x.weight", &[4, 4], Role::Weight).unwrap(), first);
    }

    #[test]
    fn normal_samples_have_the_requested_spread() {
        let samples = normal_samples(&mut StdRng::seed_from_u64(1), 20_001, 0.5);
        let mean = samples.iter().map(|&v| f64::from(v)).sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        assert!(
            mean.abs() < 0.02 && (var.sqrt() - 0.5).abs() < 0.02,
            "mean {mean} std {}",
            var.sqrt()
        );
    }
}
