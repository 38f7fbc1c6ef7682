//! AdamW: burn's, except that on libtorch each tensor's update is torch's in-place ops, as
//! PyTorch's AdamW makes it ([`w2s_models::adamw_on_torch`]). burn's update is about fifteen
//! elementwise passes, most into new tensors; on the CPU that was 17 % of MPNet's training step
//! against 10 % for PyTorch's (`benchmarks/results/2026-11-24-cpu-mpnet.md`). The state is
//! burn's, so optimizer checkpoints are the same either way.

use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{
    AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor};
use w2s_core::config::TrainConfig;
use w2s_models::{AdamWStep, adamw_on_torch};

/// HF's AdamW defaults, which the PyTorch reference runs with too.
const BETA_1: f64 = 0.9;
const BETA_2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// AdamW with the config's weight decay and gradient clipping (per parameter tensor, as burn
/// clips).
pub fn adamw(config: &TrainConfig) -> ModuleOptimizer {
    let optimizer = ModuleOptimizer::from(AdamW::new(config.weight_decay));
    if config.grad_clip > 0.0 {
        optimizer.with_grad_clipping(GradientClippingConfig::Norm(config.grad_clip as f32).init())
    } else {
        optimizer
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
            Some(AdamWState { momentum }) => {
                (momentum.time, Some([momentum.moment_1, momentum.moment_2]))
            }
            None => (0, None),
        };
        let started = moments.is_some();
        let [moment_1, moment_2] =
            moments.unwrap_or_else(|| [grad.zeros_like(), grad.zeros_like()]);
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
                let state = started
                    .then(|| AdamWState::new(AdaptiveMomentumState::new(time, moment_1, moment_2)));
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
    use burn::tensor::{Device, Distribution};

    use super::*;

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
                (our_param, our_state) =
                    ours.step(1e-2, our_param.clone(), grad.clone(), our_state.take());
                (burn_param, burn_state) =
                    burns.step(1e-2, burn_param.clone(), grad, burn_state.take());
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
