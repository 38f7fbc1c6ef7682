//! Learning-rate schedules, following Hugging Face transformers' `get_*_schedule_with_warmup`.

pub use crate::config::Schedule;

/// Learning rate at `step` (0-based) of `total_steps`.
///
/// Warmup rises linearly from 0 over `round(warmup_frac * total_steps)` steps (step `s` gets
/// `base_lr * s / warmup`, so step 0 has rate 0). Afterwards the rate is constant, decays
/// linearly to 0 at `total_steps`, or decays to 0 along a half cosine. Steps at or past the end
/// get 0 for the decaying schedules.
pub fn learning_rate(schedule: Schedule, base_lr: f64, warmup_frac: f64, step: usize, total_steps: usize) -> f64 {
    let warmup = warmup_steps(warmup_frac, total_steps);
    if step < warmup {
        return base_lr * step as f64 / warmup as f64;
    }
    let progress = if total_steps > warmup {
        ((step - warmup) as f64 / (total_steps - warmup) as f64).min(1.0)
    } else {
        1.0 // no steps left after warmup: already at the end
    };
    let factor = match schedule {
        Schedule::Constant => 1.0,
        Schedule::Linear => 1.0 - progress,
        Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    };
    base_lr * factor
}

/// Warmup steps: `round(warmup_frac * total_steps)`, within `0..=total_steps`.
pub fn warmup_steps(warmup_frac: f64, total_steps: usize) -> usize {
    let steps = (warmup_frac.clamp(0.0, 1.0) * total_steps as f64).round();
    (steps as usize).min(total_steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn warmup_is_linear_from_zero() {
        // 10 steps, 20% warmup = 2 steps.
        for schedule in [Schedule::Constant, Schedule::Linear, Schedule::Cosine] {
            assert_eq!(learning_rate(schedule, 1.0, 0.2, 0, 10), 0.0);
            assert!(close(learning_rate(schedule, 1.0, 0.2, 1, 10), 0.5));
            assert!(
                close(learning_rate(schedule, 1.0, 0.2, 2, 10), 1.0),
                "{schedule:?} peaks after warmup"
            );
        }
    }

    #[test]
    fn constant_stays_at_peak() {
        assert_eq!(learning_rate(Schedule::Constant, 3e-4, 0.0, 0, 10), 3e-4);
        assert_eq!(learning_rate(Schedule::Constant, 3e-4, 0.0, 9, 10), 3e-4);
        assert_eq!(learning_rate(Schedule::Constant, 3e-4, 0.0, 50, 10), 3e-4);
    }

    #[test]
    fn linear_decays_to_zero() {
        // warmup 2 of 10: decay over 8 steps.
        assert!(close(learning_rate(Schedule::Linear, 1.0, 0.2, 6, 10), 0.5));
        assert!(close(learning_rate(Schedule::Linear, 1.0, 0.2, 9, 10), 0.125));
        assert_eq!(learning_rate(Schedule::Linear, 1.0, 0.2, 10, 10), 0.0);
        assert_eq!(learning_rate(Schedule::Linear, 1.0, 0.2, 12, 10), 0.0);
    }

    #[test]
    fn cosine_decays_to_zero() {
        assert!(close(learning_rate(Schedule::Cosine, 1.0, 0.0, 5, 10), 0.5));
        assert!(close(learning_rate(Schedule::Cosine, 2.0, 0.0, 0, 10), 2.0));
        let quarter = learning_rate(Schedule::Cosine, 1.0, 0.0, 25, 100);
        assert!(
            close(quarter, 0.5 * (1.0 + (std::f64::consts::PI / 4.0).cos())),
            "{quarter}"
        );
        assert!(learning_rate(Schedule::Cosine, 1.0, 0.0, 10, 10).abs() < 1e-15);
    }

    #[test]
    fn degenerate_lengths() {
        assert_eq!(learning_rate(Schedule::Linear, 1.0, 0.1, 0, 0), 0.0);
        assert_eq!(learning_rate(Schedule::Constant, 1.0, 0.1, 0, 0), 1.0);
        assert_eq!(learning_rate(Schedule::Cosine, 1.0, 0.1, 0, 0), 0.0);
        assert_eq!(learning_rate(Schedule::Linear, 1.0, 0.0, 0, 1), 1.0);
        assert_eq!(learning_rate(Schedule::Linear, 1.0, 1.0, 4, 4), 0.0);
        // Full warmup: the last step is (n-1)/n of the peak.
        assert!(close(learning_rate(Schedule::Linear, 1.0, 1.0, 3, 4), 0.75));
    }

    #[test]
    fn warmup_steps_round() {
        assert_eq!(warmup_steps(0.1, 25), 3); // 2.5 rounds away from zero
        assert_eq!(warmup_steps(0.0, 25), 0);
        assert_eq!(warmup_steps(2.0, 25), 25);
    }
}
