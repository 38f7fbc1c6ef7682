//! How many CPU threads a run computes with: `--threads`, else Slurm's CPUs per task, else the
//! backend's default (every core).

use anyhow::{Result, bail};

/// The variable Slurm sets to a task's `--cpus-per-task`.
pub const SLURM_CPUS: &str = "SLURM_CPUS_PER_TASK";

/// The thread count to set, if any: an explicit `--threads` wins (a user who passes it means
/// it, also inside a Slurm task), else `SLURM_CPUS_PER_TASK` when set, else `None` (the
/// backend's default).
///
/// # Errors
/// When `SLURM_CPUS_PER_TASK` is set (and `--threads` is not) but is not a positive integer.
pub fn resolve_threads(flag: Option<usize>, slurm_cpus: Option<&str>) -> Result<Option<usize>> {
    if flag.is_some() {
        return Ok(flag);
    }
    let Some(text) = slurm_cpus else {
        return Ok(None);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => bail!("{SLURM_CPUS}={text:?} is not a positive number of CPUs; unset it, or pass --threads N"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_slurm_which_wins_over_the_default() {
        assert_eq!(resolve_threads(Some(2), Some("8")).unwrap(), Some(2));
        assert_eq!(
            resolve_threads(Some(2), Some("garbage")).unwrap(),
            Some(2),
            "the flag wins, unread"
        );
        assert_eq!(resolve_threads(None, Some("8")).unwrap(), Some(8));
        assert_eq!(resolve_threads(None, Some(" 3\n")).unwrap(), Some(3));
        assert_eq!(resolve_threads(None, None).unwrap(), None);
    }

    #[test]
    fn a_bad_slurm_value_is_an_error_naming_the_variable() {
        for bad in ["0", "", "two", "-1", "1.5"] {
            let error = resolve_threads(None, Some(bad)).unwrap_err().to_string();
            assert!(
                error.contains("SLURM_CPUS_PER_TASK") && error.contains("--threads"),
                "{bad:?}: {error}"
            );
        }
    }
}
