//! Dropping repeated texts (a spec's `deduplicate = true`).
//!
//! A text that occurs more than once would otherwise land on both sides of a random
//! train/test split. Copies that agree on the label are redundant: the first is kept.
//! Copies that disagree make the text's label ambiguous: all of them are dropped.

use std::collections::{HashMap, HashSet};

use crate::Example;

/// The examples left after deduplication, and how many were dropped and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deduplicated {
    /// The kept examples, in their original order.
    pub examples: Vec<Example>,
    /// Later copies of a text whose every copy has the same label.
    pub duplicates: usize,
    /// Every copy of a text that occurs with more than one label.
    pub conflicting: usize,
}

/// What happens to one example.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    Duplicate,
    Conflicting,
}

/// Keeps the first copy of each text (compared exactly) and drops every copy of a
/// text whose copies disagree on the label.
pub(crate) fn deduplicate(examples: Vec<Example>) -> Deduplicated {
    let fates = fates(&examples);
    let count = |fate| fates.iter().filter(|&&f| f == fate).count();
    let (duplicates, conflicting) = (count(Fate::Duplicate), count(Fate::Conflicting));
    let examples = examples
        .into_iter()
        .zip(fates)
        .filter_map(|(example, fate)| (fate == Fate::Keep).then_some(example))
        .collect();
    Deduplicated {
        examples,
        duplicates,
        conflicting,
    }
}

/// The fate of each example, in order.
fn fates(examples: &[Example]) -> Vec<Fate> {
    // Text -> its label, or `None` once two copies disagree.
    let mut labels: HashMap<&str, Option<usize>> = HashMap::with_capacity(examples.len());
    for example in examples {
        labels
            .entry(example.text.as_str())
            .and_modify(|label| {
                if *label != Some(example.label) {
                    *label = None;
                }
            })
            .or_insert(Some(example.label));
    }
    let mut seen = HashSet::with_capacity(labels.len());
    examples
        .iter()
        .map(|example| {
            let text = example.text.as_str();
            if labels[text].is_none() {
                Fate::Conflicting
            } else if seen.insert(text) {
                Fate::Keep
            } else {
                Fate::Duplicate
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, label: usize) -> Example {
        Example {
            text: text.to_owned(),
            label,
        }
    }

    #[test]
    fn keeps_first_copy_and_drops_conflicting_texts() {
        let input = vec![
            ex("a", 0),
            ex("b", 1),
            ex("a", 0),
            ex("c", 0),
            ex("b", 0),
            ex("a", 0),
            ex("B", 1),
            ex("b", 1),
        ];
        // "a" three times, one label: two duplicates. "b" three times with labels 1, 0,
        // 1: all three conflicting. "B" differs from "b" (exact comparison).
        let result = deduplicate(input);
        assert_eq!(result.examples, vec![ex("a", 0), ex("c", 0), ex("B", 1)]);
        assert_eq!((result.duplicates, result.conflicting), (2, 3));
    }

    #[test]
    fn distinct_texts_are_untouched() {
        let input = vec![ex("x", 1), ex("x ", 1), ex("y", 0)];
        let result = deduplicate(input.clone());
        assert_eq!(result.examples, input);
        assert_eq!((result.duplicates, result.conflicting), (0, 0));
    }
}
