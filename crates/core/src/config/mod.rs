//! Experiment configuration: the TOML schema, profiles, command-line overrides and validation.
//!
//! Resolution order for [`ExperimentConfig::load`]:
//! 1. the file itself, which must be a complete config once its `[profiles.*]` tables are set aside;
//! 2. the profile selected by a `profile=<name>` override, if any;
//! 3. every other `dotted.key=value` override, in the order given.
//!
//! Every key set by a profile or an override is checked against the schema: an unknown key is
//! rejected with the list of valid keys, and a value of the wrong type names the key.
//!
//! The files: [`schema`] the typed config and its defaults, [`overrides`] reading a file,
//! profiles and `key=value` overrides, [`validate`] the constraints serde cannot express,
//! [`sizes`] how many examples a run draws, [`error`] what goes wrong, [`hash`] the stable content hash of configs and stage keys.

/// `Display` as the serde name of each variant, so that messages spell values as configs do.
macro_rules! display_as_serde_name {
    ($($ty:ty { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self { $(Self::$variant => $name),+ })
            }
        }
    )+};
}

mod error;
mod generation;
mod hash;
mod methods;
mod overrides;
mod schema;
mod sizes;
mod validate;

pub use error::*;
pub use generation::*;
pub use hash::*;
pub use methods::*;
pub use overrides::*;
pub use schema::*;
pub use sizes::*;
#[allow(unused_imports)] // the validation helpers are the tests' too
pub use validate::*;

#[cfg(test)]
mod tests;
