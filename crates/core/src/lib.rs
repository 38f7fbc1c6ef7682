//! w2s-core: the tensor-free core of the w2s weak-to-strong generalization framework.
//!
//! Experiment config ([`config`]), deterministic data splits ([`split`]), teacher ensembling
//! ([`ensemble`]) and boosting ([`boost`]), label selection ([`selection`]), ground-truth budgets
//! ([`budget`]), metrics ([`metrics`]), collapse metrics of iterated rounds ([`collapse`]),
//! weak-to-strong diagnostics ([`diagnostics`]), metrics of generated text ([`generation`]) and the generative track's results ([`generative`]),
//! performance gap recovered ([`pgr`]), statistics across
//! seeds and datasets ([`stats`]), sweeps over datasets read as a benchmark suite ([`suite`]), learning-rate schedules ([`schedule`]), run reports ([`report`]) and
//! crash-safe file output ([`io`]). All numbers are `f64`.

pub mod aggregate;
pub mod boost;
pub mod budget;
pub mod collapse;
pub mod config;
pub mod diagnostics;
pub mod ensemble;
pub mod generation;
pub mod generative;
pub mod io;
pub mod labels;
pub mod metrics;
pub mod pgr;
pub mod report;
pub mod role;
pub mod schedule;
pub mod selection;
pub mod split;
pub mod stats;
pub mod suite;
pub mod sweep;
pub mod tables;
/// Builders of synthetic configs and results for tests: core's own and, through the `testing`
/// feature, other crates'.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{ConfigError, ExperimentConfig, stable_hash};
pub use metrics::Metrics;
pub use pgr::Pgr;
pub use report::{ModelResult, RunResults, SeedResult};
pub use stats::Summary;
