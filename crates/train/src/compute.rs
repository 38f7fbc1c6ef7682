//! Where and how stages compute: the devices, the precision, and what of them a stage's results
//! depend on. One [`Compute`] is built per process, from `--device`/`--devices` and `--precision`.

use burn::tensor::Device;

use crate::device::{DeviceChoice, DeviceError, concrete_devices, parse_devices};
use crate::precision::{Precision, PrecisionError, set_precision};

/// The resolved devices and precision of a run.
#[derive(Debug, Clone)]
pub struct Compute {
    /// The devices as the user chose them, `auto` and `cpu` settled; the first is the main one.
    choices: Vec<DeviceChoice>,
    /// The inference device; training uses its autodiff twin.
    device: Device,
    /// The other data-parallel devices, on `device`'s backend; empty for one device.
    replicas: Vec<Device>,
    precision: Precision,
}

/// Why the devices or precision asked for cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Precision(#[from] PrecisionError),
}

impl Compute {
    /// The devices named by `devices` (`auto`, `cpu`, `cuda:0`, or a comma-separated list that
    /// trains data-parallel, the first being the main device) in `precision` (`f32`, `bf16`,
    /// `f16`). Sets the process's precision, which the models' forward passes read.
    pub fn from_flags(devices: &str, precision: &str) -> Result<Self, ComputeError> {
        let choices = parse_devices(devices)?;
        if choices.is_empty() {
            return Err(DeviceError::Unknown(devices.to_string()).into());
        }
        let choices = concrete_devices(&choices)?;
        let precision: Precision = precision.parse()?;
        for &choice in &choices {
            precision.check(choice)?;
        }
        set_precision(precision)?;
        let mut resolved = choices
            .iter()
            .map(|choice| choice.resolve())
            .collect::<Result<Vec<_>, _>>()?;
        let device = resolved.remove(0);
        Ok(Self {
            choices,
            device,
            replicas: resolved,
            precision,
        })
    }

    /// flex in f32 on one device: what the tests run on.
    pub fn flex() -> Self {
        Self {
            choices: vec![DeviceChoice::Flex],
            device: Device::flex(),
            replicas: Vec::new(),
            precision: Precision::F32,
        }
    }

    /// The main (inference) device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The other data-parallel devices; empty for one device.
    pub fn replicas(&self) -> &[Device] {
        &self.replicas
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The main device as chosen, `auto` and `cpu` settled.
    pub fn choice(&self) -> DeviceChoice {
        self.choices[0]
    }

    /// The CPU threads the main device computes with now (`--threads`, Slurm's or the
    /// backend's default), as results record them; `None` on a GPU. Not in any stage key.
    pub fn threads(&self) -> Option<usize> {
        self.choice().cpu_threads()
    }

    /// The backend as stage keys name it: `None` for flex, else e.g.
    /// `libtorch-cpu/kernels-5/torch-2.9.0` ([`DeviceChoice::cache_backend`]).
    pub fn cache_backend(&self) -> Option<String> {
        self.choice().cache_backend()
    }

    /// The precision as stage keys name it: `None` for f32, so that f32 keys stay as they were.
    pub fn cache_precision(&self) -> Option<String> {
        (self.precision != Precision::F32).then(|| self.precision.to_string())
    }

    /// The backend and precision as results record them, e.g. `libtorch-cpu f32 (torch 2.9.0)`.
    pub fn label(&self) -> String {
        self.choice().compute(self.precision)
    }

    /// One line for the log: the devices and precision, and a warning where half precision is
    /// emulated on this CPU.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.choices.iter().map(ToString::to_string).collect();
        let mut line = match names.as_slice() {
            [one] => format!("device {one}, precision {}", self.precision),
            many => format!(
                "devices {} (data-parallel, main {}), precision {}",
                many.join(","),
                many[0],
                self.precision
            ),
        };
        if let Some(warning) = self.precision.slow_on(self.choice()) {
            line = format!("{warning}\n{line}");
        }
        line
    }
}
