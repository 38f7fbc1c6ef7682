//! Progress bars for training and labelling stages.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over the steps of one stage, showing loss and throughput.
/// When stderr is not a terminal (CI, Slurm logs) it stays silent and `log` prints plain lines.
pub struct StageProgress {
    bar: ProgressBar,
}

impl StageProgress {
    pub fn new(stage: &str, total_steps: usize) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total_steps as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(500));
        Self { bar }
    }

    /// Moves the bar to `step` steps done, where a resumed run starts.
    pub fn resume_at(&self, step: usize) {
        self.bar.set_position(step as u64);
        self.bar.reset_eta();
    }

    /// Advances one step and shows the running loss and examples per second.
    pub fn step(&self, loss: f64, examples_per_sec: f64) {
        self.bar.inc(1);
        self.bar
            .set_message(format!("loss {loss:.4} | {examples_per_sec:.1} ex/s"));
    }

    /// Advances one step of a stage without a loss (labelling), showing examples per second.
    pub fn advance(&self, examples_per_sec: f64) {
        self.bar.inc(1);
        self.bar.set_message(format!("{examples_per_sec:.1} ex/s"));
    }

    /// Prints a line above the bar, or to stderr when the bar is hidden.
    pub fn log(&self, line: &str) {
        if self.bar.is_hidden() {
            eprintln!("{}: {line}", self.bar.prefix());
        } else {
            self.bar.println(format!("{:>14}: {line}", self.bar.prefix()));
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
