//! Limited-memory BFGS with a backtracking (Armijo) line search, for smooth convex objectives.
//!
//! Deterministic: no randomness and a fixed order of operations, so the same start gives the
//! same iterates bit for bit. Every buffer is allocated once per solve, none per iteration.

/// Sufficient-decrease constant of the Armijo condition.
const ARMIJO: f64 = 1e-4;
/// Most trial steps of one line search before it gives up.
const MAX_TRIALS: usize = 40;
/// Relative size below which a change in the objective cannot be told from rounding.
const RESOLUTION: f64 = 1e-14;

/// When to stop.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// Curvature pairs kept.
    pub memory: usize,
    /// Most accepted steps.
    pub max_iter: usize,
    /// Converged when every component of the gradient is below this in absolute value.
    pub tolerance: f64,
}

/// Where a solve ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Outcome {
    /// Accepted steps.
    pub iterations: usize,
    /// Whether the gradient's max-norm fell below the tolerance.
    pub converged: bool,
    /// The objective at the final point.
    pub value: f64,
    /// The gradient's max-norm at the final point.
    pub gradient_norm: f64,
}

/// Minimises `eval` from `theta`, leaving the final point in `theta`. `eval(point, gradient)`
/// writes the gradient at `point` and returns the objective there.
pub(super) fn minimize(
    theta: &mut [f64],
    settings: Settings,
    mut eval: impl FnMut(&[f64], &mut [f64]) -> f64,
) -> Outcome {
    let n = theta.len();
    let mut gradient = vec![0.0; n];
    let mut value = eval(theta, &mut gradient);
    let mut history = History::new(settings.memory, n);
    let mut search = LineSearch::new(n);
    let mut iterations = 0;
    loop {
        let gradient_norm = max_norm(&gradient);
        let converged = gradient_norm < settings.tolerance;
        if converged || iterations >= settings.max_iter || !value.is_finite() {
            return Outcome {
                iterations,
                converged,
                value,
                gradient_norm,
            };
        }
        let slope = history.direction(&gradient, &mut search.direction);
        let initial = if history.is_empty() {
            (1.0 / norm(&search.direction)).min(1.0)
        } else {
            1.0
        };
        match search.run(theta, value, &gradient, slope, initial, &mut eval) {
            Some(new_value) => {
                history.push(&search.trial, theta, &search.trial_gradient, &gradient);
                theta.copy_from_slice(&search.trial);
                gradient.copy_from_slice(&search.trial_gradient);
                value = new_value;
                iterations += 1;
            }
            // A quasi-Newton direction that leads nowhere: retry once along the gradient.
            None if !history.is_empty() => history.clear(),
            None => {
                return Outcome {
                    iterations,
                    converged,
                    value,
                    gradient_norm,
                };
            }
        }
    }
}

/// The last `memory` steps `s = x_{k+1} - x_k` and gradient changes `y = g_{k+1} - g_k`, in a ring.
struct History {
    s: Vec<Vec<f64>>,
    y: Vec<Vec<f64>>,
    /// `1 / (s . y)` of each pair.
    rho: Vec<f64>,
    /// Two-loop coefficients, kept to avoid allocating.
    alpha: Vec<f64>,
    /// Slot of the oldest pair.
    start: usize,
    len: usize,
}

impl History {
    fn new(memory: usize, n: usize) -> Self {
        let memory = memory.max(1);
        Self {
            s: vec![vec![0.0; n]; memory],
            y: vec![vec![0.0; n]; memory],
            rho: vec![0.0; memory],
            alpha: vec![0.0; memory],
            start: 0,
            len: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }

    /// Slot of the `i`-th oldest pair.
    fn slot(&self, i: usize) -> usize {
        (self.start + i) % self.s.len()
    }

    /// Records the step from `old` to `new`, replacing the oldest pair when full; skipped when it
    /// carries no positive curvature, which keeps the inverse-Hessian estimate positive definite.
    fn push(&mut self, new: &[f64], old: &[f64], new_gradient: &[f64], old_gradient: &[f64]) {
        let steps = new.iter().zip(old).map(|(a, b)| a - b);
        let changes = new_gradient.iter().zip(old_gradient).map(|(a, b)| a - b);
        let (sy, yy) = steps
            .zip(changes)
            .fold((0.0, 0.0), |(sy, yy), (s, y)| (sy + s * y, yy + y * y));
        if !(sy > 0.0 && sy > 1e-12 * yy) {
            return;
        }
        let capacity = self.s.len();
        let slot = self.slot(self.len);
        if self.len < capacity {
            self.len += 1;
        } else {
            self.start = (self.start + 1) % capacity;
        }
        for (s, (a, b)) in self.s[slot].iter_mut().zip(new.iter().zip(old)) {
            *s = a - b;
        }
        for (y, (a, b)) in self.y[slot].iter_mut().zip(new_gradient.iter().zip(old_gradient)) {
            *y = a - b;
        }
        self.rho[slot] = 1.0 / sy;
    }

    /// Writes `-H g` into `direction` (the two-loop recursion, with the initial inverse Hessian
    /// scaled by the newest pair's `s.y / y.y`) and returns the slope `g . direction`. Falls back
    /// to `-g` when the history is empty or the result is not a descent direction.
    fn direction(&mut self, gradient: &[f64], direction: &mut [f64]) -> f64 {
        direction.copy_from_slice(gradient);
        for i in (0..self.len).rev() {
            let slot = self.slot(i);
            self.alpha[slot] = self.rho[slot] * dot(&self.s[slot], direction);
            axpy(-self.alpha[slot], &self.y[slot], direction);
        }
        if self.len > 0 {
            let newest = self.slot(self.len - 1);
            let gamma = 1.0 / (self.rho[newest] * dot(&self.y[newest], &self.y[newest]));
            direction.iter_mut().for_each(|d| *d *= gamma);
        }
        for i in 0..self.len {
            let slot = self.slot(i);
            let beta = self.rho[slot] * dot(&self.y[slot], direction);
            axpy(self.alpha[slot] - beta, &self.s[slot], direction);
        }
        direction.iter_mut().for_each(|d| *d = -*d);
        let slope = dot(gradient, direction);
        if slope < 0.0 && slope.is_finite() {
            return slope;
        }
        self.clear();
        for (d, g) in direction.iter_mut().zip(gradient) {
            *d = -g;
        }
        dot(gradient, direction)
    }
}

/// A backtracking line search's buffers: the direction, and the trial point with its gradient.
struct LineSearch {
    direction: Vec<f64>,
    trial: Vec<f64>,
    trial_gradient: Vec<f64>,
}

impl LineSearch {
    fn new(n: usize) -> Self {
        Self {
            direction: vec![0.0; n],
            trial: vec![0.0; n],
            trial_gradient: vec![0.0; n],
        }
    }

    /// Backtracks from step `initial` along the direction until the Armijo condition holds,
    /// shrinking by safeguarded quadratic interpolation. Leaves the accepted point in `trial` and
    /// returns its objective; `None` when no step decreases the objective.
    fn run(
        &mut self,
        theta: &[f64],
        value: f64,
        gradient: &[f64],
        slope: f64,
        initial: f64,
        eval: &mut impl FnMut(&[f64], &mut [f64]) -> f64,
    ) -> Option<f64> {
        let mut step = initial;
        for _ in 0..MAX_TRIALS {
            for (t, (x, d)) in self.trial.iter_mut().zip(theta.iter().zip(&self.direction)) {
                *t = x + step * d;
            }
            let trial_value = eval(&self.trial, &mut self.trial_gradient);
            if self.accepts(value, trial_value, gradient, slope, step) {
                return Some(trial_value);
            }
            step = next_step(step, value, trial_value, slope);
        }
        None
    }

    /// The Armijo condition, or, where the decrease it asks for is below the objective's
    /// rounding, no increase and a smaller gradient (so that tight tolerances can be met).
    fn accepts(&self, value: f64, trial_value: f64, gradient: &[f64], slope: f64, step: f64) -> bool {
        if !trial_value.is_finite() {
            return false;
        }
        if trial_value <= value + ARMIJO * step * slope {
            return true;
        }
        let rounding = RESOLUTION * value.abs().max(1.0);
        (ARMIJO * step * slope).abs() < rounding
            && trial_value <= value + rounding
            && max_norm(&self.trial_gradient) < max_norm(gradient)
    }
}

/// The minimiser of the quadratic through `(0, value)` with slope `slope` and `(step, trial)`,
/// kept within `[0.1, 0.5] * step`; half the step when the trial is not finite.
fn next_step(step: f64, value: f64, trial_value: f64, slope: f64) -> f64 {
    if !trial_value.is_finite() {
        return 0.5 * step;
    }
    let curvature = trial_value - value - slope * step;
    let quadratic = if curvature > 0.0 {
        -slope * step * step / (2.0 * curvature)
    } else {
        0.5 * step
    };
    quadratic.clamp(0.1 * step, 0.5 * step)
}

/// `y += a * x`.
pub(super) fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// The dot product, with eight independent accumulators so that it vectorises.
pub(super) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

fn norm(x: &[f64]) -> f64 {
    dot(x, x).sqrt()
}

/// The largest absolute component.
pub(super) fn max_norm(x: &[f64]) -> f64 {
    x.iter().fold(0.0, |m, v| m.max(v.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: Settings = Settings {
        memory: 10,
        max_iter: 200,
        tolerance: 1e-10,
    };

    #[test]
    fn minimises_an_ill_conditioned_quadratic() {
        // f(x) = 1/2 sum_i c_i (x_i - i)^2, minimum at x_i = i, condition number 1000.
        let scales = [1.0, 10.0, 100.0, 1000.0];
        let outcome = {
            let mut x = vec![0.0; 4];
            let outcome = minimize(&mut x, SETTINGS, |p, g| {
                let mut f = 0.0;
                for i in 0..4 {
                    let r = p[i] - i as f64;
                    g[i] = scales[i] * r;
                    f += 0.5 * scales[i] * r * r;
                }
                f
            });
            for (i, v) in x.iter().enumerate() {
                assert!((v - i as f64).abs() < 1e-9, "x[{i}] = {v}");
            }
            outcome
        };
        assert!(outcome.converged, "{outcome:?}");
        assert!(outcome.gradient_norm < 1e-10 && outcome.value < 1e-18);
    }

    /// Rosenbrock's function at `p`, its gradient written into `g`.
    fn rosenbrock(p: &[f64], g: &mut [f64]) -> f64 {
        let (a, b) = (p[0], p[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
    }

    #[test]
    fn minimises_the_rosenbrock_function() {
        let mut x = vec![-1.2, 1.0];
        let outcome = minimize(
            &mut x,
            Settings {
                max_iter: 500,
                ..SETTINGS
            },
            rosenbrock,
        );
        assert!(outcome.converged, "{outcome:?}");
        assert!((x[0] - 1.0).abs() < 1e-8 && (x[1] - 1.0).abs() < 1e-8, "{x:?}");
    }

    #[test]
    fn stops_at_max_iter_without_claiming_convergence() {
        let mut x = vec![-1.2, 1.0];
        let outcome = minimize(
            &mut x,
            Settings {
                max_iter: 3,
                ..SETTINGS
            },
            rosenbrock,
        );
        assert_eq!(outcome.iterations, 3);
        assert!(!outcome.converged);
    }

    #[test]
    fn dot_matches_the_plain_sum_on_a_ragged_length() {
        let a: Vec<f64> = (0..19).map(|i| i as f64).collect();
        let b: Vec<f64> = (0..19).map(|i| 2.0 - i as f64 * 0.5).collect();
        let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), plain);
    }
}
