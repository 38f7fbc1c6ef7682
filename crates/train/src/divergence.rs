//! Stopping a training run whose loss is no longer a number.
//!
//! Once a batch's loss is NaN or infinite, the optimizer step it drove has put NaN or huge values
//! into the weights, and every later step and prediction is garbage (a NaN loss once led to a
//! model cached with `null` predictions). `fit` therefore stops at the first such
//! step with a [`Diverged`] error.

use w2s_core::report::Role;

/// Training stopped because a batch's loss was not finite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{stage}: the training loss became {loss} at step {step} of {total_steps} (epoch {epoch}, \
     learning rate {lr:.3e}), so training diverged and was stopped"
)]
pub struct Diverged {
    /// The stage, as on the progress bar.
    pub stage: String,
    /// The step whose loss was not finite, counting from 1.
    pub step: usize,
    pub total_steps: usize,
    /// The epoch of that step, counting from 1.
    pub epoch: usize,
    /// The batch loss: NaN or infinite.
    pub loss: f64,
    /// The learning rate of that step (after warmup and decay).
    pub lr: f64,
}

/// What to change in the config when training diverges: a lower learning rate and gradient
/// clipping of the section that trains `role` (`weak.train` for teachers, else `strong.train`).
pub fn divergence_advice(role: Role, lr: f64, grad_clip: f64) -> String {
    let section = if matches!(role, Role::Teacher(_)) {
        "weak.train"
    } else {
        "strong.train"
    };
    let clip = if grad_clip > 0.0 {
        format!(
            "a tighter gradient clip, e.g. `{section}.grad_clip={}` (now {grad_clip})",
            tenth(grad_clip)
        )
    } else {
        format!("gradient clipping, e.g. `{section}.grad_clip=1.0` (now off)")
    };
    format!(
        "try a lower learning rate, e.g. `{section}.lr={:e}` (now {lr:e}), or {clip}",
        tenth(lr)
    )
}

/// A tenth of `value` to three significant digits, `5e-4` rather than `5.000000000000001e-4`.
fn tenth(value: f64) -> f64 {
    let rounded = format!("{:.2e}", value / 10.0);
    rounded.parse().unwrap_or(value / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_names_the_keys_of_the_stage_section() {
        let advice = divergence_advice(Role::Ceiling, 1e4, 1.0);
        assert!(
            advice.contains("`strong.train.lr=1e3` (now 1e4)")
                && advice.contains("`strong.train.grad_clip=0.1` (now 1)"),
            "{advice}"
        );
        let advice = divergence_advice(Role::Teacher(1), 5e-3, 0.0);
        assert!(
            advice.contains("`weak.train.lr=5e-4`") && advice.contains("`weak.train.grad_clip=1.0` (now off)"),
            "{advice}"
        );
    }
}
