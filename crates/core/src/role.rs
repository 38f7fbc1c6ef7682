//! What each model of a study is: the [`Role`] names result rows, stage progress and the seeds
//! derived for each stage, so a role is spelled in one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A model's part in a weak-to-strong study. Results, tables and seeds spell it `teacher-0`,
/// `ensemble`, `student` and `ceiling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Role {
    /// The `i`-th weak teacher, fine-tuned on ground truth.
    Teacher(usize),
    /// The teachers' labels combined: the weak side of PGR.
    Ensemble,
    /// The strong model trained on the weak labels.
    Student,
    /// The strong model trained on ground truth: the top of PGR.
    Ceiling,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Teacher(index) => write!(f, "teacher-{index}"),
            Self::Ensemble => f.write_str("ensemble"),
            Self::Student => f.write_str("student"),
            Self::Ceiling => f.write_str("ceiling"),
        }
    }
}

/// A name that is not a [`Role`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected teacher-<N>, ensemble, student or ceiling")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "ensemble" => Ok(Self::Ensemble),
            "student" => Ok(Self::Student),
            "ceiling" => Ok(Self::Ceiling),
            _ => name
                .strip_prefix("teacher-")
                .and_then(|index| index.parse().ok())
                .map(Self::Teacher)
                .ok_or_else(|| UnknownRole(name.to_string())),
        }
    }
}

impl TryFrom<String> for Role {
    type Error = UnknownRole;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

impl From<Role> for String {
    fn from(role: Role) -> Self {
        role.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_spell_and_parse_as_results_and_seeds_always_have() {
        let roles = [
            Role::Teacher(0),
            Role::Teacher(12),
            Role::Ensemble,
            Role::Student,
            Role::Ceiling,
        ];
        let names = roles.map(|role| role.to_string());
        assert_eq!(names, ["teacher-0", "teacher-12", "ensemble", "student", "ceiling"]);
        for (role, name) in roles.iter().zip(&names) {
            assert_eq!(name.parse::<Role>().unwrap(), *role);
            assert_eq!(serde_json::to_string(role).unwrap(), format!("\"{name}\""));
        }
        for bad in ["teacher", "teacher-x", "Student", ""] {
            assert!(bad.parse::<Role>().is_err(), "{bad}");
        }
    }
}
