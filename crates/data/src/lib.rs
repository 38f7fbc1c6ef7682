//! # w2s-data
//!
//! A dataset registry that normalises records from real files into
//! `(text, label)` [`Example`]s. No tensors and no tokenization happen here.
//!
//! Each dataset is described by a spec, `datasets/<name>.toml` (see
//! [`DatasetSpec`] and [`SourceSpec`]), naming its classes and its source files
//! relative to a *data root* (see [`resolve_data_root`]). Loading reads every
//! source in order, verifies its sha256 when the spec gives one, parses it
//! according to its [`Format`] and maps each raw label to a class index. A spec
//! with `deduplicate = true` then drops repeated texts, and the [`Dataset`]
//! records how many.
//!
//! ```no_run
//! use w2s_data::{Registry, resolve_data_root};
//!
//! let registry = Registry::new("datasets");
//! let dataset = registry.load("safety", &resolve_data_root(None))?;
//! println!("{} examples, per class {:?}", dataset.examples.len(), dataset.class_counts());
//! # Ok::<(), w2s_data::DataError>(())
//! ```
//!
//! Every failure is a [`DataError`] naming the file, the line or record, and
//! the field involved, with a hint on how to fix it.

mod dedupe;
mod error;
mod label;
mod load;
mod parse;
mod prompts;
mod read;
mod registry;
mod spec;

pub use error::{DataError, Location};
pub use prompts::{PromptRecord, PromptRecords, ScoredText, load_prompt_records};
pub use registry::{DATA_ROOT_ENV, DEFAULT_DATA_ROOT, Registry, resolve_data_root};
pub use spec::{DatasetSpec, Format, SourceSpec};

/// One labelled text.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The text, with the source's prefix (if any) prepended.
    pub text: String,
    /// Index into [`Dataset::classes`].
    pub label: usize,
}

/// A loaded dataset: its classes and its examples in file order.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset's registry name.
    pub name: String,
    /// The spec's `domain` (e.g. `"safety"`), if it has one.
    pub domain: Option<String>,
    /// Class names; an example's `label` indexes this list.
    pub classes: Vec<String>,
    /// All examples, sources in spec order, records in file order (less the
    /// copies dropped by `deduplicate`).
    pub examples: Vec<Example>,
    /// With `deduplicate`: examples dropped because an earlier example had the same
    /// text and label. 0 without it.
    pub dropped_duplicates: usize,
    /// With `deduplicate`: examples dropped because their text occurs with more than
    /// one label (every copy of such a text is dropped). 0 without it.
    pub dropped_conflicting: usize,
}

impl Dataset {
    /// The label of every example, in order.
    #[must_use]
    pub fn labels(&self) -> Vec<usize> {
        self.examples.iter().map(|e| e.label).collect()
    }

    /// Number of examples per class, indexed like [`Dataset::classes`].
    ///
    /// # Panics
    ///
    /// If an example's label is not a valid class index (never the case for a
    /// dataset built by [`Registry::load`]).
    #[must_use]
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for example in &self.examples {
            counts[example.label] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_class_counts() {
        let example = |label| Example {
            text: "t".to_owned(),
            label,
        };
        let dataset = Dataset {
            name: "d".to_owned(),
            domain: None,
            classes: vec!["a".to_owned(), "b".to_owned(), "c".to_owned()],
            examples: vec![example(1), example(0), example(1)],
            dropped_duplicates: 0,
            dropped_conflicting: 0,
        };
        assert_eq!(dataset.labels(), vec![1, 0, 1]);
        assert_eq!(dataset.class_counts(), vec![1, 2, 0]);
    }
}
