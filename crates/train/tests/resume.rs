//! A training run killed mid-epoch and resumed from its checkpoint ends bit for bit where the
//! same run ends uninterrupted: every weight, every epoch's loss and accuracy. Without dropout
//! any difference is something the checkpoint failed to bring back (the weights or AdamW state
//! rounded on the way to disk, the step count, the batch order, the running loss, the
//! best-so-far snapshot); with dropout, also the masks (drawn from generators seeded per step).
//! The same code runs on flex and, with the `tch` feature, on libtorch's CPU device.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use burn::module::Module;
use burn::tensor::Device;
use w2s_models::SequenceClassifier;
use w2s_train::testing::{Task, task, tiny_model_on, weights};
use w2s_train::{Diverged, FitOutcome, FitReport, FitSpec, fit_with_budget};

/// The generators dropout draws from are global to the process: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

/// The shared task (36 examples in batches of 8, 3 epochs) with `dropout` in the head.
fn task_with_dropout(dropout: f64) -> Task {
    let mut task = task();
    task.config.dropout = dropout;
    task
}

/// The task's run, checkpointing only where the step budget pauses it and at the ends of
/// epochs, as a real run killed between two timed checkpoints.
fn spec<'a>(task: &'a Task, checkpoint_dir: Option<&'a Path>, replicas: &'a [Device]) -> FitSpec<'a> {
    FitSpec {
        replicas,
        ..task.spec(5, checkpoint_dir, Duration::MAX)
    }
}

/// A tiny random BERT classifier with the task's dropout (in the encoder as in the head); the same
/// every time (a fresh process loading the pretrained model again).
fn tiny_model(task: &Task, device: &Device) -> SequenceClassifier {
    tiny_model_on(task.config.dropout, device)
}

/// The pretrained model again, and the generators in the state a new process finds them in (as
/// if seeded once per process, say, from the run's seed).
fn fresh_process(task: &Task, device: &Device) -> SequenceClassifier {
    device.seed(1);
    tiny_model(task, device)
}

/// The bits of every float parameter, in module order.
fn weight_bits(model: &SequenceClassifier) -> Vec<u32> {
    weights(model).into_iter().map(f32::to_bits).collect()
}

/// Each epoch's number, and the bits of its loss and held-out accuracy.
type EpochBits = (usize, u64, Option<u64>);

/// What a report says about training, bit for bit: each epoch's loss and held-out accuracy, and
/// the epoch kept (not the times, nor where it resumed from).
fn training_record(report: &FitReport) -> (Vec<EpochBits>, usize, Option<u64>) {
    let epochs = report
        .epochs
        .iter()
        .map(|e| (e.epoch, e.train_loss.to_bits(), e.val_accuracy.map(f64::to_bits)))
        .collect();
    (epochs, report.best_epoch, report.val_accuracy.map(f64::to_bits))
}

/// The finished run, or a panic naming the step it paused at.
fn finished(outcome: Result<FitOutcome, Diverged>) -> (SequenceClassifier, FitReport) {
    match outcome.expect("training does not diverge") {
        FitOutcome::Finished(model, report) => (model, report),
        FitOutcome::Paused { step } => panic!("paused at step {step}"),
    }
}

/// Trains `task` uninterrupted, then again stopping after each of `budgets` steps in turn (each
/// stop a fresh start from the pretrained model and the checkpoint folder, as a killed and
/// restarted process) and to the end; the two must agree bit for bit.
fn assert_resumed_equals_uninterrupted(
    task: &Task,
    device: &Device,
    replicas: &[Device],
    budgets: &[usize],
) -> Vec<u32> {
    let (reference_model, reference) = finished(fit_with_budget(
        fresh_process(task, device),
        &spec(task, None, replicas),
        device,
        None,
    ));
    let folder = tempfile::tempdir().unwrap();
    let spec = spec(task, Some(folder.path()), replicas);
    let mut paused_at = Vec::new();
    for &budget in budgets {
        match fit_with_budget(fresh_process(task, device), &spec, device, Some(budget))
            .expect("training does not diverge")
        {
            FitOutcome::Paused { step } => paused_at.push(step),
            FitOutcome::Finished(..) => panic!("finished within a budget of {budget} steps"),
        }
    }
    let (model, report) = finished(fit_with_budget(fresh_process(task, device), &spec, device, None));
    assert_eq!(report.resumed_from_step, paused_at.last().copied());

    assert_eq!(
        training_record(&report),
        training_record(&reference),
        "paused at steps {paused_at:?}:\n{report:#?}\nuninterrupted:\n{reference:#?}"
    );
    let (resumed, uninterrupted) = (weight_bits(&model), weight_bits(&reference_model));
    let differing = resumed.iter().zip(&uninterrupted).filter(|(a, b)| a != b).count();
    assert!(
        differing == 0,
        "paused at steps {paused_at:?}: {differing} of {} weights differ",
        resumed.len()
    );
    // And training did move the weights.
    assert_ne!(uninterrupted, weight_bits(&tiny_model(task, device).valid()));
    uninterrupted
}

/// Paused in the middle of epochs (step 7: epoch 2, batch 2 of 5; then step 13: epoch 3, batch
/// 3), at the end of epoch 1 (step 5), and both ways in one run; with and without a held-out set
/// (without one the last epoch's weights are kept, so the final weights are compared; with one
/// the best epoch's snapshot, which the checkpoint carries); without dropout and with.
fn assert_resume_is_exact(device: Device) {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut trained = Vec::new();
    for dropout in [0.0, 0.1] {
        let mut without_val = task_with_dropout(dropout);
        (without_val.val_ids, without_val.val_labels) = (Vec::new(), Vec::new());
        for task in [without_val, task_with_dropout(dropout)] {
            for budgets in [&[7][..], &[5], &[7, 6], &[2, 3, 4]] {
                trained.push(assert_resumed_equals_uninterrupted(&task, &device, &[], budgets));
            }
        }
    }
    // Dropout did act: the same runs with it end elsewhere.
    let (without, with) = trained.split_at(trained.len() / 2);
    assert!(without.iter().zip(with).all(|(a, b)| a != b));
}

#[test]
fn a_run_resumed_mid_epoch_equals_an_uninterrupted_one_bit_for_bit() {
    assert_resume_is_exact(Device::flex().autodiff());
}

/// The data-parallel path (three replicas, here all on the flex device) resumes exactly too.
#[test]
fn a_data_parallel_run_resumed_mid_epoch_equals_an_uninterrupted_one() {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = Device::flex().autodiff();
    for dropout in [0.0, 0.1] {
        assert_resumed_equals_uninterrupted(
            &task_with_dropout(dropout),
            &device,
            &[device.clone(), device.clone()],
            &[7],
        );
    }
}

#[cfg(feature = "tch")]
#[test]
#[allow(deprecated)] // burn-tch is w2s's libtorch backend (docs/GPU.md)
fn on_libtorch_a_run_resumed_mid_epoch_equals_an_uninterrupted_one_bit_for_bit() {
    assert_resume_is_exact(Device::libtorch().autodiff());
}
