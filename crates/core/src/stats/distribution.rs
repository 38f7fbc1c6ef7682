//! The distribution functions the tests need: Student's t and the standard normal, through the
//! regularized incomplete beta and gamma functions (Numerical Recipes, 3rd ed., sections 6.1,
//! 6.2 and 6.4, with the modified Lentz method for the continued fractions).

/// Relative accuracy at which a series or continued fraction stops.
const EPSILON: f64 = 1e-15;
/// Smallest magnitude a Lentz denominator may take before it is replaced (NR's `FPMIN`).
const TINY: f64 = 1e-300;
/// Iteration bound of a series or continued fraction: they converge in O(sqrt(a)) steps, so
/// this is never reached for any argument below about 1e9, and no input can loop forever.
const MAX_ITERATIONS: usize = 100_000;

/// Natural logarithm of the gamma function for `x > 0` (Lanczos approximation with g = 7 and 9
/// coefficients, relative error about 1e-15); NaN for `x <= 0` or NaN.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x), and sin(pi x) > 0 on (0, 0.5).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized incomplete beta function `I_x(a, b)` for `a, b > 0` and `0 <= x <= 1`;
/// NaN outside that domain. Accurate to about 1e-13 for moderate `a` and `b` (the error grows
/// with `ln_gamma(a + b)`, to about 1e-9 at `a` = 1e6).
pub fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    let domain = a > 0.0 && b > 0.0 && (0.0..=1.0).contains(&x);
    if !domain {
        return f64::NAN;
    }
    if x == 0.0 || x == 1.0 {
        return x;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    // The continued fraction converges fast for x below (a + 1) / (a + b + 2); above, use the
    // symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function (NR's `betacf`), by modified Lentz.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_ITERATIONS {
        let m = m as f64;
        let m2 = 2.0 * m;
        // The even step, then the odd step, of the fraction.
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// The regularized upper incomplete gamma function `Q(a, x) = Gamma(a, x) / Gamma(a)` for
/// `a > 0` and `x >= 0`; NaN outside that domain.
pub fn regularized_gamma_q(a: f64, x: f64) -> f64 {
    if !(a > 0.0 && x >= 0.0) {
        return f64::NAN;
    }
    if x == 0.0 {
        return 1.0;
    }
    if x == f64::INFINITY {
        return 0.0;
    }
    let ln_front = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // The series of P(a, x) converges fast here.
        let mut term = 1.0 / a;
        let mut sum = term;
        for n in 1..=MAX_ITERATIONS {
            term *= x / (a + n as f64);
            sum += term;
            if term.abs() < sum.abs() * EPSILON {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        ln_front.exp() * gamma_continued_fraction(a, x)
    }
}

/// The continued fraction of `Q(a, x) e^x x^-a Gamma(a)` (NR's `gcf`), by modified Lentz.
fn gamma_continued_fraction(a: f64, x: f64) -> f64 {
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / TINY;
    let mut d = 1.0 / guard(b);
    let mut h = d;
    for i in 1..=MAX_ITERATIONS {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = 1.0 / guard(an * d + b);
        c = guard(b + an / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPSILON {
            break;
        }
    }
    h
}

/// `P(|T| >= |t|)` for Student's t with `df > 0` degrees of freedom: the two-sided p-value of
/// `t`, computed as `I_{df / (df + t^2)}(df / 2, 1 / 2)` so that small p-values keep their
/// relative accuracy. NaN for NaN `t` or `df <= 0`.
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// `P(T <= t)` for Student's t with `df > 0` degrees of freedom; NaN for NaN `t` or `df <= 0`.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let tail = student_t_two_sided(t, df) / 2.0;
    if t > 0.0 { 1.0 - tail } else { tail }
}

/// `P(|Z| >= |z|)` for a standard normal Z: `Q(1/2, z^2 / 2)`, accurate in the far tail too;
/// NaN for NaN `z`.
pub fn normal_two_sided(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    regularized_gamma_q(0.5, z * z / 2.0)
}

#[cfg(test)]
mod tests {
    use super::super::assert_close;
    use super::*;
    use std::f64::consts::PI;

    #[test]
    fn ln_gamma_of_known_values() {
        // Gamma(n) = (n - 1)!, Gamma(1/2) = sqrt(pi), Gamma(3/2) = sqrt(pi) / 2.
        assert_close(ln_gamma(1.0), 0.0, 1e-14);
        assert_close(ln_gamma(2.0), 0.0, 1e-14);
        assert_close(ln_gamma(5.0), 24f64.ln(), 1e-13);
        assert_close(ln_gamma(21.0), 2_432_902_008_176_640_000f64.ln(), 1e-12);
        assert_close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14);
        assert_close(ln_gamma(1.5), (PI.sqrt() / 2.0).ln(), 1e-14);
        // Gamma(0.1) = 9.513507698668732 (Abramowitz and Stegun, table 6.1, by Gamma(1.1) / 0.1).
        assert_close(ln_gamma(0.1), 9.513_507_698_668_732f64.ln(), 1e-13);
        assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan() && ln_gamma(f64::NAN).is_nan());
    }

    #[test]
    fn incomplete_beta_of_closed_forms() {
        // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b;
        // I_x(1/2, 1/2) = (2 / pi) asin(sqrt(x)).
        for x in [0.0, 1e-6, 0.1, 0.37, 0.5, 0.83, 0.999_999, 1.0] {
            assert_close(regularized_incomplete_beta(1.0, 1.0, x), x, 1e-14);
            assert_close(regularized_incomplete_beta(3.5, 1.0, x), x.powf(3.5), 1e-13);
            assert_close(regularized_incomplete_beta(1.0, 7.0, x), 1.0 - (1.0 - x).powi(7), 1e-13);
            assert_close(
                regularized_incomplete_beta(0.5, 0.5, x),
                2.0 / PI * x.sqrt().asin(),
                1e-13,
            );
        }
        // Symmetry: I_x(a, b) = 1 - I_{1-x}(b, a), for parameters where neither is a closed form.
        let (a, b, x) = (13.3, 4.1, 0.71);
        let sum = regularized_incomplete_beta(a, b, x) + regularized_incomplete_beta(b, a, 1.0 - x);
        assert_close(sum, 1.0, 1e-13);
    }

    #[test]
    fn incomplete_beta_outside_its_domain_is_nan() {
        for (a, b, x) in [(0.0, 1.0, 0.5), (1.0, -1.0, 0.5), (1.0, 1.0, -0.1), (1.0, 1.0, 1.1)] {
            assert!(regularized_incomplete_beta(a, b, x).is_nan(), "{a} {b} {x}");
        }
        assert!(regularized_incomplete_beta(1.0, 1.0, f64::NAN).is_nan());
    }

    #[test]
    fn gamma_q_of_closed_forms() {
        // Q(1, x) = e^-x; Q(2, x) = (1 + x) e^-x; Q(1/2, x) = erfc(sqrt(x)).
        for x in [0.0, 0.01, 0.5, 1.9, 2.0, 7.5, 40.0] {
            assert_close(regularized_gamma_q(1.0, x), (-x).exp(), 1e-14);
            assert_close(regularized_gamma_q(2.0, x), (1.0 + x) * (-x).exp(), 1e-14);
        }
        // erfc(1) = 0.157299207050285130658 (Abramowitz and Stegun, table 7.1: erf(1) = 0.842700792949715).
        assert_close(regularized_gamma_q(0.5, 1.0), 0.157_299_207_050_285_13, 1e-14);
        assert_eq!(regularized_gamma_q(0.5, f64::INFINITY), 0.0);
        assert!(regularized_gamma_q(0.0, 1.0).is_nan() && regularized_gamma_q(1.0, -1.0).is_nan());
    }

    #[test]
    fn student_t_of_closed_forms() {
        // df = 1 (Cauchy): F(t) = 1/2 + atan(t) / pi.
        // df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
        // df = 4: F(t) = 1/2 + (3/4) u (1 - u^2 / 3) with u = t / sqrt(4 + t^2).
        for t in [-40.0, -3.0, -1.0, -0.2, 0.0, 0.5, 1.96, 12.0, 300.0] {
            assert_close(student_t_cdf(t, 1.0), 0.5 + f64::atan(t) / PI, 1e-13);
            assert_close(student_t_cdf(t, 2.0), 0.5 + t / (2.0 * (2.0 + t * t).sqrt()), 1e-13);
            let u = t / (4.0 + t * t).sqrt();
            assert_close(student_t_cdf(t, 4.0), 0.5 + 0.75 * u * (1.0 - u * u / 3.0), 1e-13);
        }
        // In the far tail the two-sided p keeps its relative accuracy: df = 1 has p = 1 - (2/pi)
        // atan(t) = (2/pi) atan(1/t).
        let t = 1e6;
        let p = student_t_two_sided(t, 1.0);
        assert_close(p / (2.0 / PI * (1.0 / t).atan()), 1.0, 1e-9);
    }

    #[test]
    fn student_t_against_tabulated_critical_values() {
        // The 0.975 quantiles of the NIST table in `t_critical_95` give p = 0.05 to their 3
        // decimals; the digits beyond are scipy 1.17's `2 * t.sf(t, df)`.
        assert_close(student_t_two_sided(12.706, 1.0), 0.050_000_802_358_133_19, 1e-12);
        assert_close(student_t_two_sided(2.228, 10.0), 0.050_011_771_817_111_32, 1e-12);
        assert_close(student_t_two_sided(1.960, 5000.0), 0.050_051_252_291_819_5, 1e-10);
        // Large degrees of freedom approach the normal: P(|Z| > 1.959963984540054) = 0.05.
        assert_close(student_t_two_sided(1.959_963_984_540_054, 1e7), 0.05, 1e-7);
    }

    #[test]
    fn student_t_of_bad_input_is_nan_and_infinite_t_is_certain() {
        assert!(student_t_cdf(f64::NAN, 3.0).is_nan());
        assert!(student_t_cdf(1.0, 0.0).is_nan());
        assert!(student_t_cdf(1.0, f64::NAN).is_nan());
        assert_eq!(student_t_cdf(f64::INFINITY, 3.0), 1.0);
        assert_eq!(student_t_cdf(f64::NEG_INFINITY, 3.0), 0.0);
    }

    #[test]
    fn normal_two_sided_of_known_values() {
        // P(|Z| > 1.959963984540054) = 0.05 and P(|Z| > 2.5758293035489004) = 0.01 (the normal
        // quantiles to 16 digits); P(|Z| > 0) = 1; P(|Z| > sqrt(2)) = erfc(1).
        assert_close(normal_two_sided(1.959_963_984_540_054), 0.05, 1e-14);
        assert_close(normal_two_sided(-2.575_829_303_548_900_4), 0.01, 1e-14);
        assert_eq!(normal_two_sided(0.0), 1.0);
        assert_close(normal_two_sided(2f64.sqrt()), 0.157_299_207_050_285_13, 1e-14);
        // Far tail: P(|Z| > 10) = erfc(10 / sqrt(2)) = 1.5239706048321166e-23 (scipy 1.17's
        // special.erfc).
        assert_close(normal_two_sided(10.0) / 1.523_970_604_832_116_6e-23, 1.0, 1e-10);
        assert!(normal_two_sided(f64::NAN).is_nan());
        assert_eq!(normal_two_sided(f64::INFINITY), 0.0);
    }
}
