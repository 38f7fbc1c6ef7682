//! How many examples a run draws from its dataset: a pool of at most `data.max_examples`, and
//! the weak, transfer and test splits as counts or as fractions of the pool, so that one config
//! fits datasets of every size (the suite's).

use serde::{Deserialize, Serialize};

use super::schema::DataConfig;

/// The size of a split: a count of examples, or a fraction of the pool (`n_weak = 0.25`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(untagged)]
pub enum SplitSize {
    /// This many examples.
    Count(usize),
    /// This fraction of the pool, rounded down; in `(0, 1]`.
    Fraction(f64),
}

impl SplitSize {
    /// The number of examples out of a pool of `pool`.
    pub fn of(self, pool: usize) -> usize {
        match self {
            Self::Count(count) => count,
            Self::Fraction(fraction) => (fraction * pool as f64).floor() as usize,
        }
    }
}

/// What a split size is, for messages.
pub const SPLIT_SIZE_EXPECTED: &str =
    "a count of examples (an integer such as 600) or a fraction of the pool (such as 0.3)";

/// An integer is a count, a float a fraction; anything else is an error that says so.
impl<'de> Deserialize<'de> for SplitSize {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;
        impl serde::de::Visitor<'_> for SizeVisitor {
            type Value = SplitSize;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(SPLIT_SIZE_EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, count: u64) -> Result<SplitSize, E> {
                usize::try_from(count)
                    .map(SplitSize::Count)
                    .map_err(|_| E::custom(format!("{count} examples is more than this machine can count")))
            }
            fn visit_i64<E: serde::de::Error>(self, count: i64) -> Result<SplitSize, E> {
                match u64::try_from(count) {
                    Ok(count) => self.visit_u64(count),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(count), &self)),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, fraction: f64) -> Result<SplitSize, E> {
                Ok(SplitSize::Fraction(fraction))
            }
        }
        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A count equals that many examples; a fraction equals no count.
impl PartialEq<usize> for SplitSize {
    fn eq(&self, count: &usize) -> bool {
        *self == Self::Count(*count)
    }
}

impl From<usize> for SplitSize {
    fn from(count: usize) -> Self {
        Self::Count(count)
    }
}

/// The sizes a run drew, recorded in its results so that a report can say them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct ResolvedSizes {
    /// Examples in the dataset.
    pub available: usize,
    /// Examples the splits are drawn from: all of them, or `data.max_examples`.
    pub pool: usize,
    pub n_weak: usize,
    pub n_transfer: usize,
    pub n_test: usize,
}

/// Why a dataset cannot be used at the configured sizes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// The dataset has fewer examples than `data.min_examples`.
    #[error(
        "dataset `{dataset}` has {available} examples, fewer than `data.min_examples` = {minimum}: it is left out \
         rather than run at sizes that cannot answer (lower `data.min_examples` to run it anyway)"
    )]
    TooSmall {
        dataset: String,
        available: usize,
        minimum: usize,
    },
}

impl DataConfig {
    /// The pool and split sizes for a dataset of `available` examples.
    ///
    /// # Errors
    /// [`SizeError::TooSmall`] below `data.min_examples`. Splits that do not fit the pool are
    /// the split's error (never shrunk silently).
    pub fn resolve(&self, dataset: &str, available: usize) -> Result<ResolvedSizes, SizeError> {
        if available < self.min_examples {
            return Err(SizeError::TooSmall {
                dataset: dataset.to_string(),
                available,
                minimum: self.min_examples,
            });
        }
        let pool = self.max_examples.map_or(available, |cap| cap.min(available));
        Ok(ResolvedSizes {
            available,
            pool,
            n_weak: self.n_weak.of(pool),
            n_transfer: self.n_transfer.of(pool),
            n_test: self.n_test.of(pool),
        })
    }
}

impl std::fmt::Display for ResolvedSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pool < self.available {
            write!(f, "a pool of {} of its {} examples", self.pool, self.available)?;
        } else {
            write!(f, "all {} examples", self.available)?;
        }
        write!(
            f,
            "; weak {}, transfer {}, test {}",
            self.n_weak, self.n_transfer, self.n_test
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n_weak: SplitSize, max_examples: Option<usize>, min_examples: usize) -> DataConfig {
        DataConfig {
            n_weak,
            n_transfer: SplitSize::Fraction(0.5),
            n_test: SplitSize::Count(10),
            max_len: 8,
            val_fraction: 0.1,
            max_examples,
            min_examples,
        }
    }

    #[test]
    fn fractions_are_of_the_capped_pool_and_counts_stay_counts() {
        let sizes = data(SplitSize::Fraction(0.25), Some(1000), 0)
            .resolve("d", 3333)
            .unwrap();
        assert_eq!(
            sizes,
            ResolvedSizes {
                available: 3333,
                pool: 1000,
                n_weak: 250,
                n_transfer: 500,
                n_test: 10
            }
        );
        let small = data(SplitSize::Fraction(0.25), Some(1000), 0)
            .resolve("d", 803)
            .unwrap();
        assert_eq!((small.pool, small.n_weak, small.n_transfer), (803, 200, 401));
        assert_eq!(small.to_string(), "all 803 examples; weak 200, transfer 401, test 10");
        assert_eq!(
            sizes.to_string(),
            "a pool of 1000 of its 3333 examples; weak 250, transfer 500, test 10"
        );
    }

    #[test]
    fn a_dataset_below_the_minimum_is_refused_with_the_reason() {
        let error = data(SplitSize::Count(5), None, 600).resolve("tiny", 599).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`tiny` has 599 examples, fewer than `data.min_examples` = 600"),
            "{message}"
        );
        assert!(data(SplitSize::Count(5), None, 600).resolve("ok", 600).is_ok());
    }

    #[test]
    fn a_size_that_is_neither_a_count_nor_a_fraction_says_what_it_takes() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Sizes {
            a: SplitSize,
        }
        for text in ["a = \"lots\"", "a = -3", "a = true"] {
            let error = toml::from_str::<Sizes>(text).unwrap_err().to_string();
            assert!(error.contains(SPLIT_SIZE_EXPECTED), "{text}: {error}");
        }
    }

    #[test]
    fn toml_integers_are_counts_and_floats_fractions() {
        #[derive(Deserialize)]
        struct Sizes {
            a: SplitSize,
            b: SplitSize,
        }
        let sizes: Sizes = toml::from_str("a = 300\nb = 0.3").unwrap();
        assert_eq!((sizes.a, sizes.b), (SplitSize::Count(300), SplitSize::Fraction(0.3)));
    }
}
