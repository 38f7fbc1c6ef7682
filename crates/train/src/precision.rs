//! Mixed precision (`--precision f32|bf16|f16`).
//!
//! With `bf16` or `f16`, the weights, the AdamW state, the loss and the metrics stay in f32;
//! only the encoder's forward (and so its backward) runs in half precision, on a half-precision
//! copy of the weights made at each step ([`forward_logits`]). The copy is a cast inside the
//! autodiff graph, so the gradients flow back to the f32 weights in f32, as with
//! `torch.autocast`. No loss scaling is done: bf16 has f32's exponent range and needs none;
//! f16 gradients of a fine-tuned encoder may underflow, so prefer bf16.
//!
//! bf16 also runs on libtorch's CPU backend, where oneDNN uses the CPU's bf16 instructions
//! (AVX-512 BF16, AMX): on a CPU that has them it trains about 1.5x and labels about 3.5x as
//! fast as f32 (benchmarks/results/2026-11-24-cpu-bf16.md); on one that has not, it is emulated.
//!
//! The precision is a process-wide setting, as burn's own device dtype settings are. Half
//! precision changes the results, so it is part of the stage cache keys (f32 is left out of
//! them, which keeps f32 keys as they were).

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{FloatDType, Tensor};
use w2s_models::{SequenceClassifier, TokenBatch};

use crate::device::DeviceChoice;

/// The precision of the model's forward and backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// Forward and backward in bfloat16; weights, optimizer, loss and metrics in f32.
    Bf16,
    /// Forward and backward in float16; weights, optimizer, loss and metrics in f32.
    F16,
}

#[derive(Debug, thiserror::Error)]
pub enum PrecisionError {
    #[error("unknown precision `{0}`: use `f32`, `bf16` or `f16`")]
    Unknown(String),
    #[error("--precision {precision} does not run on device `{device}`: {runs_on}. Use `--precision f32`")]
    Unsupported {
        precision: Precision,
        device: DeviceChoice,
        runs_on: &'static str,
    },
    #[error("the precision was already set to {0} for this process")]
    AlreadySet(Precision),
}

impl FromStr for Precision {
    type Err = PrecisionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            "f16" | "fp16" => Ok(Self::F16),
            other => Err(PrecisionError::Unknown(other.to_string())),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        })
    }
}

impl Precision {
    /// The dtype of the forward pass.
    pub fn dtype(self) -> FloatDType {
        match self {
            Self::F32 => FloatDType::F32,
            Self::Bf16 => FloatDType::BF16,
            Self::F16 => FloatDType::F16,
        }
    }

    /// Checks that `device` (a concrete choice, see [`DeviceChoice::concrete`]) runs this
    /// precision. Every device runs f32; CUDA runs both half precisions; libtorch's CPU backend
    /// runs bf16 (through oneDNN, on the CPU's bf16 instructions where it has them). flex has
    /// no fast half-precision kernels.
    pub fn check(self, device: DeviceChoice) -> Result<(), PrecisionError> {
        let runs_on = match self {
            Self::F32 => return Ok(()),
            Self::Bf16 => {
                "bf16 runs on CUDA (`--device cuda:N`) and on libtorch's CPU backend (`--device libtorch-cpu`)"
            }
            Self::F16 => "f16 runs on CUDA only (`--device cuda:N`, libtorch backend)",
        };
        let supported = device.is_gpu() || (self == Self::Bf16 && device == DeviceChoice::LibTorchCpu);
        if supported {
            Ok(())
        } else {
            Err(PrecisionError::Unsupported {
                precision: self,
                device,
                runs_on,
            })
        }
    }

    /// A warning for a CPU run in half precision on a CPU without bf16 instructions, where
    /// libtorch emulates bf16 and runs slower than in f32.
    pub fn slow_on(self, device: DeviceChoice) -> Option<String> {
        let emulated = self != Self::F32 && !device.is_gpu() && !cpu_has_bf16_instructions();
        emulated.then(|| {
            format!(
                "warning: /proc/cpuinfo lists no bf16 instructions (avx512_bf16, amx_bf16 or bf16), \
                 so --precision {self} is emulated and likely slower than f32"
            )
        })
    }
}

/// Whether /proc/cpuinfo lists bf16 instructions: AVX-512 BF16 or AMX BF16 in x86's `flags`,
/// `bf16` in Arm's `Features`. `false` without /proc/cpuinfo.
fn cpu_has_bf16_instructions() -> bool {
    std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| lists_bf16_flags(&info))
}

fn lists_bf16_flags(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags") || line.starts_with("Features"))
        .any(|line| {
            line.split_whitespace()
                .any(|flag| matches!(flag, "avx512_bf16" | "amx_bf16" | "bf16"))
        })
}

static PRECISION: OnceLock<Precision> = OnceLock::new();

/// Sets the process's precision once, before training (the CLI does it from `--precision`).
/// Setting the value it already has is not an error.
pub fn set_precision(precision: Precision) -> Result<(), PrecisionError> {
    let current = *PRECISION.get_or_init(|| precision);
    if current == precision {
        Ok(())
    } else {
        Err(PrecisionError::AlreadySet(current))
    }
}

/// The process's precision (f32 unless [`set_precision`] said otherwise).
pub fn precision() -> Precision {
    PRECISION.get().copied().unwrap_or_default()
}

/// Class logits `[batch, classes]` in f32, the forward running in `precision`.
pub fn forward_logits(model: &SequenceClassifier, batch: &TokenBatch, precision: Precision) -> Tensor<2> {
    match precision {
        Precision::F32 => model.forward(batch),
        half => cast_params(model.clone(), half.dtype())
            .forward(batch)
            .cast(FloatDType::F32),
    }
}

/// `module` with every float parameter cast to `dtype`. Each cast keeps its parameter's id and,
/// on an autodiff device, its place in the graph, so gradients reach the original parameters.
pub fn cast_params<M: Module>(module: M, dtype: FloatDType) -> M {
    struct Cast(FloatDType);
    impl ModuleMapper for Cast {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|tensor| tensor.cast(dtype))
        }
    }
    module.map(&mut Cast(dtype))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_precisions() {
        for (text, precision) in [
            ("f32", Precision::F32),
            ("bf16", Precision::Bf16),
            ("F16", Precision::F16),
        ] {
            assert_eq!(text.parse::<Precision>().unwrap(), precision);
        }
        assert!("int8".parse::<Precision>().unwrap_err().to_string().contains("bf16"));
        assert_eq!(Precision::Bf16.to_string(), "bf16");
    }

    #[test]
    fn half_precision_runs_where_it_has_kernels() {
        assert!(Precision::F32.check(DeviceChoice::Flex).is_ok());
        assert!(Precision::Bf16.check(DeviceChoice::Cuda(0)).is_ok());
        assert!(Precision::F16.check(DeviceChoice::Cuda(0)).is_ok());
        assert!(Precision::Bf16.check(DeviceChoice::LibTorchCpu).is_ok());
        let message = Precision::Bf16.check(DeviceChoice::Flex).unwrap_err().to_string();
        assert!(
            message.contains("`flex`") && message.contains("libtorch-cpu") && message.contains("--precision f32"),
            "{message}"
        );
        let message = Precision::F16.check(DeviceChoice::LibTorchCpu).unwrap_err().to_string();
        assert!(
            message.contains("`libtorch-cpu`") && message.contains("CUDA only"),
            "{message}"
        );
    }

    #[test]
    fn bf16_instructions_are_read_from_the_cpu_flags() {
        assert!(lists_bf16_flags(
            "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n"
        ));
        assert!(lists_bf16_flags("flags\t\t: fpu amx_bf16\n"));
        assert!(lists_bf16_flags("Features\t: fp asimd bf16 i8mm\n"));
        assert!(!lists_bf16_flags(
            "flags\t\t: fpu avx512f avx512_vnni\nbugs\t\t: amx_bf16\n"
        ));
        assert!(Precision::F32.slow_on(DeviceChoice::LibTorchCpu).is_none());
        assert!(Precision::Bf16.slow_on(DeviceChoice::Cuda(0)).is_none());
    }

    #[test]
    fn half_precision_copies_send_gradients_to_the_f32_weights() {
        use burn::module::Module;
        use burn::nn::LinearConfig;
        use burn::optim::GradientsParams;
        use burn::tensor::{DType, Device};

        let device = Device::flex().autodiff();
        let linear = LinearConfig::new(4, 3).init(&device);
        let half = cast_params(linear.clone(), FloatDType::BF16);
        assert_eq!(half.weight.val().dtype(), DType::BF16);
        assert_eq!(linear.weight.val().dtype(), DType::F32, "the master weights stay f32");

        let input = Tensor::<2>::ones([2, 4], &device).cast(FloatDType::BF16);
        let loss = half.forward(input).cast(FloatDType::F32).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &linear);
        let grad = grads.get::<2>(linear.weight.id).expect("a gradient for the f32 weight");
        assert_eq!(grad.dtype(), DType::F32);
        // d(sum of outputs)/d(weight) is the column sums of the input: 2 everywhere.
        let values = grad.into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|&g| (g - 2.0).abs() < 1e-2), "{values:?}");
        assert_eq!(linear.num_params(), half.num_params());
    }

    /// Tiny random models of each family.
    fn tiny_families() -> Vec<w2s_models::ModelConfig> {
        use w2s_models::{BertConfig, Gpt2Config, MpnetConfig};
        let bert = BertConfig {
            vocab_size: 100,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            ..Default::default()
        };
        let mpnet = MpnetConfig {
            vocab_size: 100,
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 64,
            ..Default::default()
        };
        let gpt2 = Gpt2Config {
            vocab_size: 100,
            n_positions: 32,
            n_embd: 32,
            n_layer: 2,
            n_head: 4,
            bos_token_id: 1,
            eos_token_id: 2,
            ..Default::default()
        };
        vec![bert.into(), mpnet.into(), gpt2.into()]
    }

    /// The whole classifier of each family in bf16 (padding included): runs, stays in bf16 to
    /// the last hidden state, and gives f32 logits close to the f32 model's.
    fn check_bf16_classifiers(device: &burn::tensor::Device) {
        for config in tiny_families() {
            check_bf16_classifier(config, device);
        }
    }

    fn check_bf16_classifier(config: w2s_models::ModelConfig, device: &burn::tensor::Device) {
        use burn::tensor::DType;
        use w2s_models::{ClassifierOptions, make_batch, random_classifier};

        let options = ClassifierOptions {
            pooling: config.default_pooling(),
            ..ClassifierOptions::default()
        };
        let model = random_classifier(config, &options, device);
        let ids: Vec<Vec<u32>> = vec![vec![3, 5, 9, 2], vec![3, 7, 2]];
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let batch = make_batch(&refs, 0, device);
        let half = cast_params(model.clone(), FloatDType::BF16);
        assert_eq!(half.encode(&batch).dtype(), DType::BF16, "activations stay in bf16");
        let f32_logits: Vec<f32> = forward_logits(&model, &batch, Precision::F32)
            .into_data()
            .try_to_vec()
            .unwrap();
        let logits = forward_logits(&model, &batch, Precision::Bf16);
        assert_eq!(logits.dtype(), DType::F32);
        let bf16_logits: Vec<f32> = logits.into_data().try_to_vec().unwrap();
        for (a, b) in f32_logits.iter().zip(&bf16_logits) {
            assert!((a - b).abs() < 0.05, "{f32_logits:?} vs {bf16_logits:?}");
        }
    }

    #[test]
    fn bf16_classifiers_run_on_flex() {
        check_bf16_classifiers(&burn::tensor::Device::flex());
    }

    #[cfg(feature = "tch")]
    #[test]
    #[allow(deprecated)]
    fn bf16_classifiers_run_on_libtorch() {
        check_bf16_classifiers(&burn::tensor::Device::libtorch());
    }

    #[test]
    fn f32_is_the_default() {
        assert_eq!(precision(), Precision::F32);
    }
}
