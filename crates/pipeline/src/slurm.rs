//! Submitting a sweep to Slurm: a job that trains the shared stages (teachers and ceilings), then a
//! job array with one task per unfinished cell that starts once the first succeeds
//! (`--dependency=afterok`). Each task runs `w2s ablate <sweep> --cell <index>`, which runs the
//! cell exactly as the local runner does, into the same run folder.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use w2s_core::io::write_atomic;

/// Where and how the jobs run: from a cluster profile file, then flags.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Wall-clock limit of each task, in Slurm's format, e.g. `4:00:00`.
    pub time: Option<String>,
    /// GPUs per task (0: none requested).
    pub gpus_per_task: u32,
    pub cpus_per_task: Option<u32>,
    /// Memory per task, e.g. `32G`.
    pub mem: Option<String>,
    /// Further `sbatch` options, e.g. `["--qos=high"]`.
    pub extra_args: Vec<String>,
}

impl ClusterOptions {
    /// Reads a cluster profile, a TOML file of the fields above.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading cluster profile {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("cluster profile {}", path.display()))
    }

    fn directives(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut add = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                lines.push(format!("--{flag}={value}"));
            }
        };
        add("partition", self.partition.clone());
        add("account", self.account.clone());
        add("time", self.time.clone());
        add(
            "gpus-per-task",
            (self.gpus_per_task > 0).then(|| self.gpus_per_task.to_string()),
        );
        add("cpus-per-task", self.cpus_per_task.map(|c| c.to_string()));
        add("mem", self.mem.clone());
        lines.extend(self.extra_args.iter().cloned());
        lines
    }
}

/// The two jobs of a submitted sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub shared_job: String,
    pub array_job: String,
    /// The scripts, kept next to the Slurm output.
    pub scripts: [PathBuf; 2],
}

/// What to submit: `w2s_command` is the `w2s ablate <sweep>` command line (program first) that
/// each job extends with `--shared` or `--cell <index>`.
pub struct SweepJobs<'a> {
    pub sweep: &'a str,
    pub w2s_command: &'a [String],
    /// The indices of the cells to run.
    pub cells: &'a [usize],
    /// Scripts and Slurm's own output go here (`slurm/` inside it).
    pub dir: &'a Path,
    /// The jobs' working directory.
    pub workdir: &'a Path,
}

impl SweepJobs<'_> {
    /// The script of the job that trains the shared stages.
    pub fn shared_script(&self, options: &ClusterOptions) -> String {
        self.script(options, &format!("{}-shared", self.sweep), None, "%j.out", "--shared")
    }

    /// The script of the job array, one task per cell; the task id is the cell index.
    pub fn array_script(&self, options: &ClusterOptions) -> String {
        let indices: Vec<String> = self.cells.iter().map(usize::to_string).collect();
        self.script(
            options,
            &format!("{}-cells", self.sweep),
            Some(&indices.join(",")),
            "%A_%a.out",
            "--cell \"$SLURM_ARRAY_TASK_ID\"",
        )
    }

    fn script(&self, options: &ClusterOptions, name: &str, array: Option<&str>, output: &str, mode: &str) -> String {
        let mut text = String::from("#!/bin/bash\n");
        let output = self.dir.join("slurm").join(output);
        let mut directives = vec![
            format!("--job-name=w2s-{name}"),
            format!("--output={}", output.display()),
            format!("--chdir={}", self.workdir.display()),
        ];
        if let Some(array) = array {
            directives.push(format!("--array={array}"));
        }
        directives.extend(options.directives());
        for directive in directives {
            let _ = writeln!(text, "#SBATCH {directive}");
        }
        let command: Vec<String> = self.w2s_command.iter().map(|word| shell_quote(word)).collect();
        let _ = writeln!(text, "set -euo pipefail\nexec {} {mode}", command.join(" "));
        text
    }

    /// Writes both scripts and submits them, the array depending on the shared job.
    pub fn submit(&self, options: &ClusterOptions) -> Result<Submitted> {
        if self.cells.is_empty() {
            bail!("every cell of the sweep has finished: nothing to submit");
        }
        std::fs::create_dir_all(self.dir.join("slurm")).with_context(|| format!("creating {}", self.dir.display()))?;
        let shared = self.dir.join("shared.sbatch");
        let array = self.dir.join("cells.sbatch");
        for (path, text) in [
            (&shared, self.shared_script(options)),
            (&array, self.array_script(options)),
        ] {
            write_atomic(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        }
        let shared_job = sbatch(&[], &shared)?;
        let array_job = sbatch(
            &[
                format!("--dependency=afterok:{shared_job}"),
                "--kill-on-invalid-dep=yes".into(),
            ],
            &array,
        )?;
        Ok(Submitted {
            shared_job,
            array_job,
            scripts: [shared, array],
        })
    }
}

/// Submits `script`, returning the job id.
fn sbatch(args: &[String], script: &Path) -> Result<String> {
    let output = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .arg(script)
        .output()
        .context("running `sbatch`: is Slurm installed and on PATH? (`just slurm` starts a single-node cluster on this machine)")?;
    if !output.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    // `--parsable` prints `<job id>[;<cluster>]`.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let id = stdout.trim().split(';').next().unwrap_or_default();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch {} printed `{}`, not a job id", script.display(), stdout.trim());
    }
    Ok(id.to_string())
}

/// `word` quoted for bash, unless it is plainly safe.
fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs<'a>(command: &'a [String], cells: &'a [usize]) -> SweepJobs<'a> {
        SweepJobs {
            sweep: "loss",
            w2s_command: command,
            cells,
            dir: Path::new("/w/sweeps/loss"),
            workdir: Path::new("/w"),
        }
    }

    #[test]
    fn the_array_has_one_task_per_unfinished_cell_and_runs_the_cell_command() {
        let command = [
            "/bin/w2s",
            "ablate",
            "/w/experiments/ablations/loss.toml",
            "--out",
            "/w/check points",
        ]
        .map(String::from);
        let options = ClusterOptions {
            partition: Some("gpu".into()),
            gpus_per_task: 1,
            time: Some("2:00:00".into()),
            ..Default::default()
        };
        let script = jobs(&command, &[0, 2, 5]).array_script(&options);
        for line in [
            "#SBATCH --job-name=w2s-loss-cells",
            "#SBATCH --output=/w/sweeps/loss/slurm/%A_%a.out",
            "#SBATCH --chdir=/w",
            "#SBATCH --array=0,2,5",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=2:00:00",
            "#SBATCH --gpus-per-task=1",
            "exec /bin/w2s ablate /w/experiments/ablations/loss.toml --out '/w/check points' --cell \"$SLURM_ARRAY_TASK_ID\"",
        ] {
            assert!(script.lines().any(|l| l == line), "no `{line}` in\n{script}");
        }
        assert!(!script.contains("--account"), "{script}");
        let shared = jobs(&command, &[0]).shared_script(&ClusterOptions::default());
        assert!(
            shared.contains("--shared\n") && !shared.contains("--array") && !shared.contains("gpus"),
            "{shared}"
        );
    }

    #[test]
    fn cluster_profiles_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.toml");
        std::fs::write(
            &path,
            "partition = \"a100\"\ngpus_per_task = 2\nextra_args = [\"--qos=high\"]\n",
        )
        .unwrap();
        let options = ClusterOptions::load(&path).unwrap();
        assert_eq!(
            options.directives(),
            ["--partition=a100", "--gpus-per-task=2", "--qos=high"]
        );
        std::fs::write(&path, "partitio = \"a100\"\n").unwrap();
        let error = format!("{:#}", ClusterOptions::load(&path).unwrap_err());
        assert!(error.contains("cluster.toml") && error.contains("partitio"), "{error}");
    }

    #[test]
    fn quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("strong.loss=xent"), "strong.loss=xent");
        assert_eq!(shell_quote("it's here"), r"'it'\''s here'");
        assert_eq!(shell_quote(""), "''");
    }
}
