//! A stable content hash: configs name their run folders by it, stages their cache folders.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// 12 lowercase hex chars of SHA-256 over canonical JSON (object keys sorted at every level,
/// no whitespace), so equal values hash equally whatever their field order.
///
/// # Panics
/// If `value` cannot be represented as JSON (e.g. a map with non-string keys).
pub fn stable_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_value(value).expect("stable_hash: value must serialize to JSON");
    let canonical = serde_json::to_vec(&sort_keys(json)).expect("a JSON value always serializes");
    let digest = Sha256::digest(&canonical);
    digest.iter().take(6).fold(String::with_capacity(12), |mut hex, b| {
        let _ = write!(hex, "{b:02x}"); // writing to a String cannot fail
        hex
    })
}

/// Rebuild `value` with object keys in sorted order; explicit so the hash does not depend on
/// whether `serde_json`'s `preserve_order` feature is enabled somewhere in the build.
pub(super) fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> = map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
