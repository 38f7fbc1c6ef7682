//! The optimizer of a fine-tuning run: the gradients clipped to a global norm, as PyTorch's
//! `clip_grad_norm_` and HF's Trainer clip them, then AdamW.
//!
//! AdamW is burn's, except that on libtorch each tensor's update is torch's in-place ops, as
//! PyTorch's AdamW makes it ([`w2s_kernels::adamw_on_torch`]). burn's update is about fifteen
//! elementwise passes, most into new tensors; on the CPU that was 17 % of MPNet's training step
//! against 10 % for PyTorch's (`benchmarks/results/2026-11-24-cpu-mpnet.md`). The state is
//! burn's, so optimizer checkpoints are the same either way.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{
    AdamWConfig, AdamWState, AdaptiveMomentumState, GradientsParams, LearningRate, ModuleOptimizer, Optimizer,
    OptimizerRecord,
};
use burn::tensor::{Device, Tensor};
use w2s_core::config::TrainConfig;
use w2s_kernels::{AdamWStep, adamw_on_torch};

/// HF's AdamW defaults, which the PyTorch reference runs with too.
const BETA_1: f64 = 0.9;
const BETA_2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// AdamW with the config's weight decay, after clipping the gradients to a global norm of the
/// config's `grad_clip` (none at 0).
pub fn adamw(config: &TrainConfig) -> ModelOptimizer {
    ModelOptimizer {
        adamw: ModuleOptimizer::from(AdamW::new(config.weight_decay)),
        max_grad_norm: (config.grad_clip > 0.0).then_some(config.grad_clip),
    }
}

/// AdamW over a model's parameters with global gradient-norm clipping; see [`adamw`].
pub struct ModelOptimizer {
    adamw: ModuleOptimizer,
    max_grad_norm: Option<f64>,
}

impl ModelOptimizer {
    /// `model` after one step at learning rate `lr` with its gradients `grads`.
    pub fn step<M: Module>(&mut self, lr: LearningRate, model: M, grads: GradientsParams) -> M {
        let grads = match self.max_grad_norm {
            Some(max_norm) => clip_grad_norm(&model, grads, max_norm),
            None => grads,
        };
        self.adamw.step(lr, model, grads)
    }

    /// The AdamW state, for a checkpoint.
    pub fn to_record(&self) -> OptimizerRecord {
        self.adamw.to_record()
    }

    /// This optimizer with the AdamW state of a checkpoint.
    pub fn load_record(self, record: OptimizerRecord) -> Self {
        Self {
            adamw: self.adamw.load_record(record),
            ..self
        }
    }
}

/// `grads` scaled by `max_norm / (norm + 1e-6)` when `norm`, the L2 norm of all of `model`'s
/// gradients together, is above `max_norm`; as they were otherwise. As PyTorch's
/// `clip_grad_norm_`, except that it leaves the gradients untouched rather than scaling them by 1.
pub fn clip_grad_norm<M: Module>(model: &M, mut grads: GradientsParams, max_norm: f64) -> GradientsParams {
    let norm = grad_norm(model, &grads);
    let factor = max_norm / (norm + 1e-6);
    if factor < 1.0 {
        model.visit(&mut ScaleGrads {
            grads: &mut grads,
            factor,
        });
    }
    grads
}

/// The L2 norm of all of `model`'s gradients in `grads` together.
pub fn grad_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    let mut squares = SumOfSquares { grads, sum: None };
    model.visit(&mut squares);
    squares.sum.map_or(0.0, |sum| (sum.into_scalar::<f32>() as f64).sqrt())
}

struct SumOfSquares<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SumOfSquares<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let squares = grad.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(sum) => sum + squares,
                None => squares,
            });
        }
    }
}

struct ScaleGrads<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for ScaleGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// Decoupled weight-decay Adam (Loshchilov & Hutter), with burn's state.
#[derive(Clone)]
pub struct AdamW {
    weight_decay: f64,
    burn: burn::optim::AdamW,
}

impl AdamW {
    /// AdamW with HF's betas and epsilon and this weight decay.
    pub fn new(weight_decay: f64) -> Self {
        let burn = AdamWConfig::new()
            .with_beta_1(BETA_1 as f32)
            .with_beta_2(BETA_2 as f32)
            .with_epsilon(EPSILON as f32)
            .with_weight_decay(weight_decay as f32)
            .build();
        Self { weight_decay, burn }
    }
}

impl Optimizer for AdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let (time, moments) = match state {
            Some(AdamWState { momentum }) => (momentum.time, Some([momentum.moment_1, momentum.moment_2])),
            None => (0, None),
        };
        let started = moments.is_some();
        let [moment_1, moment_2] = moments.unwrap_or_else(|| [grad.zeros_like(), grad.zeros_like()]);
        let step = AdamWStep {
            lr,
            beta_1: BETA_1,
            beta_2: BETA_2,
            epsilon: EPSILON,
            weight_decay: self.weight_decay,
            time: i32::try_from(time + 1).expect("fewer than 2^31 optimisation steps"),
        };
        match adamw_on_torch(&step, [tensor, grad, moment_1, moment_2]) {
            Ok([tensor, moment_1, moment_2]) => {
                let momentum = AdaptiveMomentumState::new(time + 1, moment_1, moment_2);
                (tensor, Some(AdamWState::new(momentum)))
            }
            Err(tensors) => {
                let [tensor, grad, moment_1, moment_2] = *tensors;
                let state = started.then(|| AdamWState::new(AdaptiveMomentumState::new(time, moment_1, moment_2)));
                self.burn.step(lr, tensor, grad, state)
            }
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        burn::optim::AdamW::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Distribution};

    use super::*;

    /// Two layers and the gradients of a loss through them.
    fn layers_and_grads() -> ([Linear; 2], GradientsParams) {
        let device = Device::flex().autodiff();
        let layers = [
            LinearConfig::new(6, 4).init(&device),
            LinearConfig::new(4, 3).init(&device),
        ];
        let x = Tensor::<2>::random([5, 6], Distribution::Normal(0.0, 1.0), &device);
        let loss = layers[1].forward(layers[0].forward(x)).powf_scalar(2.0).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layers);
        (layers, grads)
    }

    fn grad_values(layers: &[Linear; 2], grads: &GradientsParams) -> Vec<f32> {
        let mut values = Vec::new();
        for layer in layers {
            values.extend(
                grads
                    .get::<2>(layer.weight.id)
                    .unwrap()
                    .to_data()
                    .try_to_vec::<f32>()
                    .unwrap(),
            );
            let bias = layer.bias.as_ref().unwrap();
            values.extend(grads.get::<1>(bias.id).unwrap().to_data().try_to_vec::<f32>().unwrap());
        }
        values
    }

    #[test]
    fn clipping_scales_every_gradient_by_one_factor_to_the_global_norm() {
        let (layers, grads) = layers_and_grads();
        let before = grad_values(&layers, &grads);
        let norm = before.iter().map(|g| (*g as f64).powi(2)).sum::<f64>().sqrt();
        assert!((grad_norm(&layers, &grads) - norm).abs() < 1e-5 * norm);
        let clipped = clip_grad_norm(&layers, grads, norm / 4.0);
        let after = grad_values(&layers, &clipped);
        assert!(
            (grad_norm(&layers, &clipped) - norm / 4.0).abs() < 1e-5 * norm,
            "not at the maximum norm"
        );
        for (a, b) in after.iter().zip(&before) {
            assert!((a * 4.0 - b).abs() < 1e-5 * b.abs().max(1e-3), "{a} is not {b} / 4");
        }
    }

    #[test]
    fn gradients_within_the_norm_are_left_as_they_were() {
        let (layers, grads) = layers_and_grads();
        let before = grad_values(&layers, &grads);
        let norm = grad_norm(&layers, &grads);
        let kept = clip_grad_norm(&layers, grads, 2.0 * norm);
        assert_eq!(grad_values(&layers, &kept), before);
    }

    /// Three steps of this AdamW and of burn's from the same parameter and gradients.
    fn both_ways(device: &Device) -> Vec<(Tensor<2>, Tensor<2>)> {
        let ours = AdamW::new(0.01);
        let burns = AdamWConfig::new()
            .with_epsilon(EPSILON as f32)
            .with_weight_decay(0.01)
            .build();
        let param = Tensor::<2>::random([8, 4], Distribution::Normal(0.0, 1.0), device);
        let (mut our_param, mut our_state) = (param.clone(), None);
        let (mut burn_param, mut burn_state) = (param, None);
        (0..3)
            .map(|_| {
                let grad = Tensor::<2>::random([8, 4], Distribution::Normal(0.0, 1.0), device);
                (our_param, our_state) = ours.step(1e-2, our_param.clone(), grad.clone(), our_state.take());
                (burn_param, burn_state) = burns.step(1e-2, burn_param.clone(), grad, burn_state.take());
                let (ours, burns) = (our_state.as_ref().unwrap(), burn_state.as_ref().unwrap());
                assert_eq!(ours.momentum.time, burns.momentum.time);
                (our_param.clone(), burn_param.clone())
            })
            .collect()
    }

    #[test]
    fn off_libtorch_it_is_burns_adamw_bit_for_bit() {
        for (ours, burns) in both_ways(&Device::flex()) {
            assert_eq!(ours.to_data(), burns.to_data());
        }
    }

    #[cfg(feature = "tch")]
    #[test]
    #[allow(deprecated)] // burn-tch is w2s's libtorch backend (docs/GPU.md)
    fn on_libtorch_it_matches_burns_adamw() {
        for (ours, burns) in both_ways(&Device::libtorch()) {
            let diff = (ours - burns).abs().max().into_scalar::<f32>();
            assert!(diff < 1e-6, "off burn's AdamW by {diff}");
        }
    }
}
