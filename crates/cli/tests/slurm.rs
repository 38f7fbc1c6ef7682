//! A sweep submitted to a real Slurm cluster (`just slurm` starts a single-node one on this
//! machine): the shared stages run first as their own job, the cells as a job array after it,
//! into the same run folders as the local runner; a failed task is reported as failed.

mod common;

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fixture_flags, w2s, write_experiment};
use w2s_core::aggregate::SweepSummary;

const SWEEP: &str = r#"
experiments = ["tiny"]
seeds = [0]

[set]
"strong.train.epochs" = 2
"weak.train.epochs" = 2

[axes]
# The last value asks for more test examples than the data has: that cell fails.
"data.n_test" = [100, 150, 100000]
"#;

#[test]
fn a_sweep_runs_as_a_slurm_job_array_after_its_shared_stages() {
    let sinfo = Command::new("sinfo").arg("--noheader").output();
    assert!(
        sinfo.as_ref().is_ok_and(|o| o.status.success()),
        "no Slurm cluster answers `sinfo`: start one with `just slurm` (see docs/SLURM.md): {sinfo:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_experiment(root);
    fs::create_dir_all(root.join("ablations")).unwrap();
    fs::write(root.join("ablations/slurm.toml"), SWEEP).unwrap();
    let flags = fixture_flags(root);
    let run = |args: &[&str]| w2s(&[args, &flags.iter().map(String::as_str).collect::<Vec<_>>()].concat());

    let (ok, stdout, stderr) = run(&[
        "ablate",
        "name=slurm",
        "backend=slurm",
        "--gpus",
        "0",
        "--time",
        "10:00",
    ]);
    assert!(ok, "{stderr}");
    let (shared, array) = job_ids(&stdout);
    let sweep_dir = root.join("out/sweeps/slurm");
    let array_script = fs::read_to_string(sweep_dir.join("cells.sbatch")).unwrap();
    assert!(
        array_script.contains("#SBATCH --array=0,1,2") && array_script.contains("--time=10:00"),
        "{array_script}"
    );

    wait_until_gone(&[shared, array], Duration::from_secs(300));
    let shared_out = fs::read_to_string(sweep_dir.join(format!("slurm/{shared}.out"))).unwrap();
    assert!(shared_out.contains("shared stages of cell 0"), "{shared_out}");

    let (ok, _, stderr) = run(&["aggregate", "name=slurm"]);
    assert!(ok, "{stderr}");
    let summary: SweepSummary =
        serde_json::from_str(&fs::read_to_string(sweep_dir.join("aggregate.json")).unwrap()).unwrap();
    let statuses: Vec<&str> = summary.cells.iter().map(|c| c.status.as_str()).collect();
    assert_eq!(statuses, ["done", "done", "failed"], "{summary:?}");
    let failed = &summary.cells[2];
    let log = failed.log.as_ref().expect("a failed cell names its log");
    assert!(log.starts_with(&failed.run_dir) && log.exists(), "{failed:?}");
    assert!(
        failed.error.as_deref().is_some_and(|e| e.contains("100000")),
        "{failed:?}"
    );
    // The failed cell is listed, never averaged in.
    let markdown = fs::read_to_string(sweep_dir.join("aggregate.md")).unwrap();
    assert!(markdown.contains(&log.display().to_string()), "{markdown}");
    assert!(
        summary.axis_medians.iter().all(|m| m.value != "100000" || m.cells == 0),
        "{:?}",
        summary.axis_medians
    );

    // The cells' teachers were trained by the shared job: each cell's log shows them reused.
    let cell_log = fs::read_to_string(summary.cells[1].run_dir.join("log.txt")).unwrap();
    assert!(
        cell_log.contains("teacher-0: finished before, reusing it"),
        "{cell_log}"
    );

    // Submitting again sends only what is unfinished: the failed cell.
    let (ok, stdout, stderr) = run(&["ablate", "name=slurm", "backend=slurm", "--gpus", "0"]);
    assert!(ok, "{stderr}");
    let array_script = fs::read_to_string(sweep_dir.join("cells.sbatch")).unwrap();
    assert!(array_script.contains("#SBATCH --array=2\n"), "{array_script}");
    let (shared, array) = job_ids(&stdout);
    wait_until_gone(&[shared, array], Duration::from_secs(300));
}

/// The shared job's and the array job's ids, from `w2s ablate`'s report.
fn job_ids(stdout: &str) -> (&str, &str) {
    let after = |marker: &str| {
        let rest = &stdout[stdout
            .find(marker)
            .unwrap_or_else(|| panic!("no `{marker}` in {stdout}"))
            + marker.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next().unwrap()
    };
    (after("shared stages as job "), after("as array job "))
}

/// Waits until Slurm no longer lists the jobs as pending or running.
fn wait_until_gone(jobs: &[&str], timeout: Duration) {
    let started = Instant::now();
    loop {
        let output = Command::new("squeue")
            .args(["--noheader", "--jobs", &jobs.join(","), "--format=%i %T"])
            .output()
            .unwrap();
        let listed = String::from_utf8_lossy(&output.stdout).into_owned();
        if listed.trim().is_empty() {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "jobs still queued after {timeout:?}:\n{listed}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
