//! Reading a config: the file, the profile it names, and `key=value` overrides, each key and
//! value checked against the schema.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::error::{COMMAND_LINE, ConfigError};
use super::schema::{ExperimentConfig, join_key, schema_leaf, schema_tree, set_dotted, to_toml_table};
use super::sizes::SPLIT_SIZE_EXPECTED;
use super::validate::attribute_problems;

/// A `key=value` override and where it was given, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedOverride {
    /// `key=value`, as given.
    pub text: String,
    /// Where it was given, e.g. "from the command line" or "in `[set]` of ablations/x.toml".
    pub from: String,
}

impl SourcedOverride {
    /// `overrides`, each given on the command line.
    pub fn command_line(overrides: &[String]) -> Vec<Self> {
        overrides
            .iter()
            .map(|text| Self {
                text: text.clone(),
                from: COMMAND_LINE.to_string(),
            })
            .collect()
    }
}

impl ExperimentConfig {
    /// Load `path`, apply the profile named by an override `profile=<name>` (if any) and then
    /// every other `key=value` override in order, and validate the result.
    ///
    /// # Errors
    /// [`ConfigError`] when the file cannot be read or parsed, a profile or override is unknown,
    /// malformed or of the wrong type, or the result breaks a constraint of [`Self::validate`].
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::load_sourced(path, &SourcedOverride::command_line(overrides))
    }

    /// Like [`ExperimentConfig::load`], with overrides that say where each was given, so that a
    /// bad value is blamed on its source (a sweep's `[set]`, the command line).
    ///
    /// # Errors
    /// As [`ExperimentConfig::load`].
    pub fn load_sourced(path: &Path, overrides: &[SourcedOverride]) -> Result<Self, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: origin.clone(),
            error,
        })?;
        Self::from_toml_str_sourced(&text, &origin, overrides)
    }

    /// Like [`ExperimentConfig::load`] on text already read; `origin` names the file in messages.
    ///
    /// The file must be a complete config by itself (its `[profiles.*]` tables set aside).
    /// `profile=<name>` must name a profile the file defines, or the config's own `profile`
    /// value (by default `"cpu"`), which applies nothing. When several are given, the last wins.
    ///
    /// # Errors
    /// As [`ExperimentConfig::load`], except for reading the file.
    pub fn from_toml_str(text: &str, origin: &str, overrides: &[String]) -> Result<Self, ConfigError> {
        Self::from_toml_str_sourced(text, origin, &SourcedOverride::command_line(overrides))
    }

    /// Like [`ExperimentConfig::from_toml_str`], with overrides that say where each was given.
    ///
    /// # Errors
    /// As [`ExperimentConfig::from_toml_str`].
    pub fn from_toml_str_sourced(text: &str, origin: &str, overrides: &[SourcedOverride]) -> Result<Self, ConfigError> {
        let (base, profiles) = parse_file(text, origin)?;
        let texts: Vec<String> = overrides.iter().map(|o| o.text.clone()).collect();
        let parsed = parse_overrides(&texts)?;
        // Where each key's value came from, for validation messages; keys absent here are the file's.
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        let requested_profile = parsed.iter().rev().find(|o| o.key == "profile").map(|o| {
            parse_override_value(&o.key, &o.raw)
                .as_str()
                .unwrap_or(&o.raw)
                .to_string()
        });

        let mut tree = to_toml_table(&base);
        let mut profile_name = base.profile.clone();
        if let Some(name) = requested_profile {
            apply_profile(&mut tree, &profiles, &name, &base.profile, origin)?;
            for (key, _) in profiles.get(&name).into_iter().flatten() {
                sources.insert(key.clone(), format!("from profile `{name}` in {origin}"));
            }
            profile_name = name;
        }
        for (o, given) in parsed.iter().zip(overrides).filter(|(o, _)| o.key != "profile") {
            let value = checked_value(&o.key, parse_override_value(&o.key, &o.raw), &given.from)?;
            set_dotted(&mut tree, &o.key, value);
            sources.insert(o.key.clone(), given.from.clone());
        }
        set_dotted(&mut tree, "profile", toml::Value::String(profile_name));

        // Every key and value was checked against the schema above, so this cannot fail on
        // anything but a bug; still report it rather than panic.
        let config: Self = toml::Value::Table(tree)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
        config.validate().map_err(|e| attribute_problems(e, &sources, origin))?;
        Ok(config)
    }
}

// ---------------------------------------------------------------------------------------------
// File parsing

/// Profiles by name; each maps a dotted key to its value.
pub(super) type Profiles = BTreeMap<String, Vec<(String, toml::Value)>>;

/// Parse the file into a config (with toml's line/column errors) and its profiles.
pub(super) fn parse_file(text: &str, origin: &str) -> Result<(ExperimentConfig, Profiles), ConfigError> {
    let parse_error = |e: toml::de::Error| ConfigError::Parse {
        origin: origin.to_string(),
        message: e.to_string(),
    };
    let mut document = toml::de::DeTable::parse(text).map_err(parse_error)?;
    let has_profiles = document.get_mut().remove("profiles").is_some();
    let config = ExperimentConfig::deserialize(toml::de::Deserializer::from(document)).map_err(|mut e| {
        e.set_input(Some(text));
        parse_error(e)
    })?;
    let profiles = if has_profiles {
        read_profiles(text, origin)?
    } else {
        Profiles::new()
    };
    Ok((config, profiles))
}

pub(super) fn read_profiles(text: &str, origin: &str) -> Result<Profiles, ConfigError> {
    let bad = |message: String| ConfigError::BadProfiles {
        origin: origin.to_string(),
        message,
    };
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let Some(toml::Value::Table(profiles)) = table.remove("profiles") else {
        return Err(bad("`profiles` is not a table".to_string()));
    };
    let mut resolved = Profiles::new();
    for (name, entries) in profiles {
        let toml::Value::Table(entries) = entries else {
            return Err(bad(format!("`profiles.{name}` is not a table")));
        };
        let mut flat = Vec::new();
        flatten_entries(entries, "", &mut flat);
        resolved.insert(name, flat);
    }
    Ok(resolved)
}

/// Flatten nested tables into dotted keys, so `[profiles.gpu.data] n_weak = 1` works like
/// `"data.n_weak" = 1`. No config leaf is a table, so this is unambiguous.
pub(super) fn flatten_entries(table: toml::Table, prefix: &str, out: &mut Vec<(String, toml::Value)>) {
    for (key, value) in table {
        let path = join_key(prefix, &key);
        match value {
            toml::Value::Table(inner) => flatten_entries(inner, &path, out),
            leaf => out.push((path, leaf)),
        }
    }
}

pub(super) fn apply_profile(
    tree: &mut toml::Table,
    profiles: &Profiles,
    name: &str,
    current: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    let Some(entries) = profiles.get(name) else {
        if name == current {
            return Ok(());
        }
        return Err(ConfigError::UnknownProfile {
            name: name.to_string(),
            origin: origin.to_string(),
            available: profiles.keys().cloned().collect(),
        });
    };
    let from = format!("profile `{name}` in {origin}");
    for (key, value) in entries {
        let value = checked_value(key, value.clone(), &from)?;
        set_dotted(tree, key, value);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Overrides

pub(super) struct Override {
    key: String,
    raw: String,
}

pub(super) fn parse_overrides(overrides: &[String]) -> Result<Vec<Override>, ConfigError> {
    overrides
        .iter()
        .map(|text| match text.split_once('=') {
            Some((key, raw)) if !key.trim().is_empty() => Ok(Override {
                key: key.trim().to_string(),
                raw: raw.trim().to_string(),
            }),
            _ => Err(ConfigError::MalformedOverride { text: text.clone() }),
        })
        .collect()
}

/// The override's value as TOML (`3`, `1e-4`, `true`, `[0, 1]`, `"x"`), or the raw text as a
/// string when it is not TOML. A key whose schema type is a string always gets the raw text
/// (unquoted when quoted), so `strong.model=123` names a model "123"; one whose type is an array
/// takes a list of bare words, so `weak.models=[minilm-l3,minilm-l6]` names two models.
pub(super) fn parse_override_value(key: &str, raw: &str) -> toml::Value {
    let parsed = parse_toml_value(raw);
    match (schema_leaf(key), parsed) {
        (Some(toml::Value::String(_)), Some(toml::Value::String(s))) => toml::Value::String(s),
        (Some(toml::Value::String(_)), _) => toml::Value::String(raw.to_string()),
        (Some(toml::Value::Array(_)), None) => {
            bare_word_list(raw).unwrap_or_else(|| toml::Value::String(raw.to_string()))
        }
        (_, None) => toml::Value::String(raw.to_string()),
        (_, Some(value)) => value,
    }
}

/// `[a, b, "c"]` with bare words among its items, each item TOML or else a string; `None` when
/// `raw` is not bracketed or has an empty item.
pub(super) fn bare_word_list(raw: &str) -> Option<toml::Value> {
    let inner = raw.trim().strip_prefix('[')?.strip_suffix(']')?;
    let items = inner
        .split(',')
        .map(str::trim)
        .map(|item| match item {
            "" => None,
            item => Some(parse_toml_value(item).unwrap_or_else(|| toml::Value::String(item.to_string()))),
        })
        .collect::<Option<Vec<_>>>()?;
    Some(toml::Value::Array(items))
}

pub(super) fn parse_toml_value(raw: &str) -> Option<toml::Value> {
    let mut table: toml::Table = format!("value = {raw}").parse().ok()?;
    if table.len() != 1 {
        return None; // text such as "1\nother = 2" smuggled in a second key
    }
    table.remove("value")
}

/// Check `key` exists and `value` has its type, by deserializing the schema with the value set.
/// A scalar where the schema has an array becomes a one-element array (`weak.models=minilm-l6`).
pub(super) fn checked_value(key: &str, value: toml::Value, from: &str) -> Result<toml::Value, ConfigError> {
    let Some(expected) = schema_leaf(key) else {
        return Err(unknown_key(key, from));
    };
    let value = match (&expected, value) {
        (toml::Value::Array(_), toml::Value::Array(items)) => toml::Value::Array(items),
        (toml::Value::Array(_), scalar) => toml::Value::Array(vec![scalar]),
        (toml::Value::String(_), value) if !value.is_str() => {
            return Err(ConfigError::BadValue {
                key: key.to_string(),
                from: from.to_string(),
                expected: "a string".to_string(),
                message: format!("got {} `{value}`", value.type_str()),
            });
        }
        (_, value) => value,
    };
    let mut tree = schema_tree();
    set_dotted(&mut tree, key, value.clone());
    match toml::Value::Table(tree).try_into::<ExperimentConfig>() {
        Ok(_) => Ok(value),
        Err(e) => Err(ConfigError::BadValue {
            key: key.to_string(),
            from: from.to_string(),
            expected: if e.message().starts_with("unknown variant") {
                "one of a fixed set of names".to_string()
            } else {
                describe_kind(key, &expected).to_string()
            },
            message: e.message().to_string(),
        }),
    }
}

/// Checks that `key` is a config key and `value` has its type, as for a profile entry or an
/// override; `from` says where they came from in messages, e.g. "in axis `x` of sweep.toml".
/// Returns the value as it will be set (a scalar given for a list key becomes a one-item list).
///
/// # Errors
/// [`ConfigError::UnknownKey`] listing the valid keys, or [`ConfigError::BadValue`].
pub fn check_setting(key: &str, value: toml::Value, from: &str) -> Result<toml::Value, ConfigError> {
    checked_value(key, value, from)
}

/// What kind of value the schema leaf `key` takes, for messages.
pub(super) fn describe_kind(key: &str, leaf: &toml::Value) -> &'static str {
    if matches!(key, "data.n_weak" | "data.n_transfer" | "data.n_test") {
        return SPLIT_SIZE_EXPECTED;
    }
    match leaf {
        toml::Value::Integer(_) => "a non-negative integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Array(items) if items.first().is_some_and(toml::Value::is_integer) => {
            "a list of non-negative integers, e.g. [0, 1, 2]"
        }
        toml::Value::Array(_) => "a list of strings, e.g. [\"a\", \"b\"]",
        _ => "a string",
    }
}

pub(super) fn unknown_key(key: &str, from: &str) -> ConfigError {
    let valid = ExperimentConfig::valid_keys();
    ConfigError::UnknownKey {
        key: key.to_string(),
        from: from.to_string(),
        suggestions: suggest(key, &valid),
        valid,
    }
}

/// Valid keys close to `key`: those ending in `.key` (a missing section), else the nearest by
/// edit distance when it is within a third of the key's length.
pub(super) fn suggest(key: &str, valid: &[String]) -> Vec<String> {
    let suffix = format!(".{key}");
    let by_suffix: Vec<String> = valid.iter().filter(|v| v.ends_with(&suffix)).cloned().collect();
    if !by_suffix.is_empty() {
        return by_suffix;
    }
    let max_distance = (key.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (edit_distance(key, v), v))
        .filter(|(d, _)| *d <= max_distance)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| vec![v.clone()])
        .unwrap_or_default()
}

/// Levenshtein distance over chars.
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}
