//! Why a config could not be loaded or is invalid.

/// Why a config could not be loaded or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error (in the message, so not also its source).
        error: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type in the file itself.
    #[error("{origin}: {message}")]
    Parse {
        /// The file.
        origin: String,
        /// toml's message, with line and column.
        message: String,
    },
    /// An override is not of the form `key=value`.
    #[error("malformed override `{text}`: expected `dotted.key=value`, e.g. `strong.train.lr=1e-4`")]
    MalformedOverride {
        /// The override as given.
        text: String,
    },
    /// A profile entry or override names a key the config does not have.
    #[error("unknown config key `{key}` ({from}).{} Valid keys: {}", suggestion_text(.suggestions), .valid.join(", "))]
    UnknownKey {
        /// The key as given.
        key: String,
        /// Where the key came from, e.g. "from the command line".
        from: String,
        /// Close valid keys, best first.
        suggestions: Vec<String>,
        /// Every valid key.
        valid: Vec<String>,
    },
    /// A profile entry or override has a value of the wrong type.
    #[error("config key `{key}` ({from}) takes {expected}: {message}")]
    BadValue {
        /// The dotted key.
        key: String,
        /// Where the value came from.
        from: String,
        /// The kind of value the key takes, e.g. "a non-negative integer".
        expected: String,
        /// What is wrong with the value given.
        message: String,
    },
    /// `profile=<name>` names a profile the file does not define.
    #[error("unknown profile `{name}` requested on the command line; {origin} defines: {}", list_or_none(.available))]
    UnknownProfile {
        /// The requested profile.
        name: String,
        /// The file.
        origin: String,
        /// Profiles the file defines.
        available: Vec<String>,
    },
    /// The `[profiles]` table is not shaped like `[profiles.<name>]` tables of key = value.
    #[error("{origin}: {message}; write profiles as tables of dotted keys, e.g. [profiles.gpu] \"data.n_weak\" = 5000")]
    BadProfiles {
        /// The file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// The config parsed but breaks a constraint.
    #[error("invalid config{}: {}", origin_text(.origin.as_deref()), .problems.join("; "))]
    Invalid {
        /// The file, when known.
        origin: Option<String>,
        /// Every broken constraint.
        problems: Vec<String>,
    },
}

pub(super) fn suggestion_text(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" Did you mean `{one}`?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|k| format!("`{k}`")).collect();
            format!(" Did you mean one of {}?", quoted.join(", "))
        }
    }
}

pub(super) fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "no profiles".to_string()
    } else {
        names.join(", ")
    }
}

pub(super) fn origin_text(origin: Option<&str>) -> String {
    origin.map(|o| format!(" in {o}")).unwrap_or_default()
}

pub(super) const COMMAND_LINE: &str = "from the command line";
