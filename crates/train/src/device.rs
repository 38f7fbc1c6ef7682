//! Choosing the compute device at run time (`--device cpu|cuda:N|auto`).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The fastest available device: CUDA when the libtorch backend sees a GPU, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device `N` through libtorch.
    Cuda(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}`: use `cpu`, `cuda:N` (e.g. `cuda:0`) or `auto`")]
    Unknown(String),
    #[error(
        "device `cuda:{0}` was asked for, but this binary was built without the libtorch backend. \
         Build with `--features tch` (the justfile does this with `backend=tch`), or use `--device cpu`"
    )]
    NoCudaBackend(usize),
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|index| index.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| DeviceError::Unknown(other.to_string())),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => write!(f, "auto"),
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl DeviceChoice {
    /// The inference device for this choice (use `.autodiff()` on it for training).
    pub fn resolve(self) -> Result<Device, DeviceError> {
        match self {
            Self::Auto | Self::Cpu => Ok(Device::flex()),
            Self::Cuda(index) => Err(DeviceError::NoCudaBackend(index)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("cuda:1".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(1));
        assert!("gpu".parse::<DeviceChoice>().unwrap_err().to_string().contains("cuda:N"));
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
    }

    #[test]
    fn cuda_without_the_backend_is_a_clear_error() {
        let message = DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
        assert!(message.contains("--features tch"), "{message}");
    }
}
