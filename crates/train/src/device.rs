//! Choosing the compute device at run time (`--device auto|cpu|cuda:N|flex|libtorch-cpu`).
//!
//! Two backends can run a model:
//! - `flex`, burn's pure-Rust CPU backend, always built in;
//! - libtorch (CPU and CUDA) through burn-tch, built in with the `tch` cargo feature
//!   (`just backend=tch ...`, see docs/GPU.md).
//!
//! `cpu` names the faster of the CPU backends built in ([`DeviceChoice::resolve`]), so that the
//! same command line is the fast one on every build.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use burn::tensor::Device;

/// What the user asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The fastest available device: CUDA device 0 when libtorch sees a GPU, else `Cpu`.
    Auto,
    /// The faster CPU backend of this build: libtorch when built in, else flex.
    Cpu,
    /// burn's pure-Rust CPU backend.
    Flex,
    /// libtorch on the CPU.
    LibTorchCpu,
    /// CUDA device `N` through libtorch.
    Cuda(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device `{0}`: use `auto`, `cpu`, `cuda:N` (e.g. `cuda:0`), `flex` or `libtorch-cpu`")]
    Unknown(String),
    #[error(
        "device `{0}` was asked for, but this binary was built without the libtorch backend. \
         Build with `--features tch` (the justfile does this with `backend=tch`, see docs/GPU.md), \
         or use `--device cpu`"
    )]
    NoLibTorch(DeviceChoice),
    #[error(
        "device `cuda:{index}` was asked for, but libtorch sees {found} CUDA device(s). \
         Check `nvidia-smi` and CUDA_VISIBLE_DEVICES, and that this binary was built against a \
         CUDA build of torch (`just backend=tch`, not `backend=tch-cpu`), or use `--device cpu`"
    )]
    NoCudaDevice { index: usize, found: usize },
    #[error(
        "`--devices {devices}` mixes backends ({backends}): data-parallel devices must all be on one \
         backend, e.g. `--devices cuda:0,cuda:1` (see docs/GPU.md)"
    )]
    MixedBackends { devices: String, backends: String },
    #[error(
        "the device ran out of memory {stage} at batch size {batch_size} ({detail}). Lower the batch \
         size of this stage, e.g. `strong.train.batch_size={half}` or `weak.train.batch_size={half}` \
         (`eval_batch_size` for labelling), or try `--precision bf16`",
        half = (batch_size / 2).max(1)
    )]
    OutOfMemory {
        stage: String,
        batch_size: usize,
        detail: String,
    },
    #[error(
        "this binary was built against torch {built}, but it loaded torch {loaded} from {}. A \
         libtorch binary runs only with the torch it was linked against: put torch {built} back \
         (`just build` does this for the project's torch venv) or point LD_LIBRARY_PATH at the \
         lib folder of a torch {built} (dist/w2s-gpu/gpu_run.sh does this on a GPU machine)",
        lib_dir.display()
    )]
    TorchVersion {
        built: String,
        loaded: String,
        lib_dir: PathBuf,
    },
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "flex" => Ok(Self::Flex),
            "libtorch-cpu" => Ok(Self::LibTorchCpu),
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
            Self::Flex => write!(f, "flex"),
            Self::LibTorchCpu => write!(f, "libtorch-cpu"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Parses a `--devices` list such as `cuda:0,cuda:1`.
pub fn parse_devices(list: &str) -> Result<Vec<DeviceChoice>, DeviceError> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The concrete devices of a `--devices` list (see [`DeviceChoice::concrete`]), which must all be
/// on one backend: all `cuda:N`, all `libtorch-cpu` or all `flex` (`cpu` and `auto` count as the
/// backend they settle to). The same device may appear more than once.
pub fn concrete_devices(choices: &[DeviceChoice]) -> Result<Vec<DeviceChoice>, DeviceError> {
    let one_backend = |choices: &[DeviceChoice]| -> Result<(), DeviceError> {
        let mut backends: Vec<&str> = Vec::new();
        for backend in choices.iter().filter_map(|choice| choice.backend()) {
            if !backends.contains(&backend) {
                backends.push(backend);
            }
        }
        if backends.len() > 1 {
            let devices: Vec<String> = choices.iter().map(ToString::to_string).collect();
            return Err(DeviceError::MixedBackends {
                devices: devices.join(","),
                backends: backends.join(" and "),
            });
        }
        Ok(())
    };
    // A mix that is plain from the names is refused before asking for any device.
    one_backend(choices)?;
    let concrete = choices
        .iter()
        .map(|choice| choice.concrete())
        .collect::<Result<Vec<_>, _>>()?;
    one_backend(&concrete)?;
    Ok(concrete)
}

pub use w2s_kernels::LIBTORCH_KERNELS;

/// The torch version that this build was linked against (`crates/train/build.rs`); `None`
/// without `tch`.
pub const LINKED_TORCH: Option<&str> = option_env!("W2S_TORCH_VERSION");

impl DeviceChoice {
    /// The backend's name (`flex`, `libtorch-cpu`, `cuda`); `None` for `auto` and `cpu`, which
    /// [`DeviceChoice::concrete`] settles.
    pub fn backend(self) -> Option<&'static str> {
        match self {
            Self::Auto | Self::Cpu => None,
            Self::Flex => Some("flex"),
            Self::LibTorchCpu => Some("libtorch-cpu"),
            Self::Cuda(_) => Some("cuda"),
        }
    }

    /// The inference device for this choice (use `.autodiff()` on it for training).
    ///
    /// Never panics: a CUDA device that libtorch does not see is an error that names what was
    /// looked for.
    pub fn resolve(self) -> Result<Device, DeviceError> {
        self.concrete().map(Self::device)
    }

    /// The backend as it enters stage cache keys: `None` for flex (so that flex keys stay as
    /// they were), else `libtorch-cpu` or `cuda` with the revision of w2s's torch kernels
    /// ([`LIBTORCH_KERNELS`]) and the torch version of the build ([`LINKED_TORCH`]: the `tch`
    /// build links torch 2.11.0, `tch-cpu` 2.9.0, and each release has its own kernels).
    /// Training amplifies rounding differences to the size of seed noise, so stages of
    /// different backends are kept apart. Call it on a [`concrete`](Self::concrete) choice.
    pub fn cache_backend(self) -> Option<String> {
        let backend = self.libtorch_backend()?;
        Some(match LINKED_TORCH {
            Some(torch) => format!("{backend}/{LIBTORCH_KERNELS}/torch-{torch}"),
            None => format!("{backend}/{LIBTORCH_KERNELS}"),
        })
    }

    /// The backend and precision as results record them: `flex f32`, or on libtorch with the
    /// torch version, `libtorch-cpu f32 (torch 2.9.0)`. Call it on a concrete choice.
    pub fn compute(self, precision: impl fmt::Display) -> String {
        let backend = self.backend().unwrap_or("cpu");
        match (self.libtorch_backend(), LINKED_TORCH) {
            (Some(_), Some(torch)) => format!("{backend} {precision} (torch {torch})"),
            _ => format!("{backend} {precision}"),
        }
    }

    /// The CPU threads this device computes with, as the results record them: flex's pool or
    /// libtorch's intra-op threads; `None` for a GPU, and for `auto` and `cpu` (call it on a
    /// [`concrete`](Self::concrete) choice).
    pub fn cpu_threads(self) -> Option<usize> {
        match self {
            Self::Flex => Some(w2s_kernels::flex_threads()),
            Self::LibTorchCpu => w2s_kernels::libtorch_threads(),
            Self::Auto | Self::Cpu | Self::Cuda(_) => None,
        }
    }

    /// The backend's name when it is libtorch's (`libtorch-cpu`, `cuda`).
    fn libtorch_backend(self) -> Option<&'static str> {
        match self {
            Self::LibTorchCpu | Self::Cuda(_) => self.backend(),
            Self::Auto | Self::Cpu | Self::Flex => None,
        }
    }

    /// The choice with `auto` and `cpu` settled for this build and machine.
    pub fn concrete(self) -> Result<Self, DeviceError> {
        if self != Self::Flex {
            check_loaded_torch()?;
        }
        match self {
            Self::Auto if cuda_device_count() > 0 => Ok(Self::Cuda(0)),
            Self::Auto | Self::Cpu => Ok(preferred_cpu()),
            Self::Flex => Ok(Self::Flex),
            Self::LibTorchCpu | Self::Cuda(_) if !cfg!(feature = "tch") => Err(DeviceError::NoLibTorch(self)),
            Self::LibTorchCpu => Ok(Self::LibTorchCpu),
            Self::Cuda(index) => match cuda_device_count() {
                found if index < found => Ok(self),
                found => Err(DeviceError::NoCudaDevice { index, found }),
            },
        }
    }

    /// Whether this (concrete) choice runs on a GPU.
    pub fn is_gpu(self) -> bool {
        matches!(self, Self::Cuda(_))
    }

    /// The burn device of a concrete choice.
    #[allow(deprecated)] // burn-tch is deprecated upstream, and still the only CUDA route that builds offline
    fn device(self) -> Device {
        match self {
            #[cfg(feature = "tch")]
            Self::LibTorchCpu => Device::libtorch(),
            #[cfg(feature = "tch")]
            Self::Cuda(index) => Device::libtorch_cuda(index),
            _ => Device::flex(),
        }
    }
}

/// The CPU backend that `cpu` and `auto` (without a GPU) pick. Measured on MiniLM-L6 at batch
/// 32 x 128 on 2 cores (benchmarks/results): libtorch trains and labels faster than flex.
fn preferred_cpu() -> DeviceChoice {
    if cfg!(feature = "tch") {
        DeviceChoice::LibTorchCpu
    } else {
        DeviceChoice::Flex
    }
}

/// Refuses libtorch when this process loaded another torch than the build was linked against
/// ([`crate::libtorch_version`]).
fn check_loaded_torch() -> Result<(), DeviceError> {
    check_torch(LINKED_TORCH, crate::libtorch_version::loaded_lib_dir())
}

/// An error when the torch whose `lib` folder is `lib_dir` is not version `built`; `Ok` when
/// either is unknown (a build without `tch`, a torch folder that does not say its version).
fn check_torch(built: Option<&str>, lib_dir: Option<PathBuf>) -> Result<(), DeviceError> {
    let (Some(built), Some(lib_dir)) = (built, lib_dir) else {
        return Ok(());
    };
    match crate::libtorch_version::version_of_lib_dir(&lib_dir) {
        Some(loaded) if loaded != built => Err(DeviceError::TorchVersion {
            built: built.to_string(),
            loaded,
            lib_dir,
        }),
        _ => Ok(()),
    }
}

/// How many CUDA devices libtorch sees (0 without the `tch` feature, and on a CPU-only torch).
pub fn cuda_device_count() -> usize {
    #[cfg(feature = "tch")]
    {
        burn::tensor::Device::enumerate(burn::tensor::DeviceType::LibTorch).len()
    }
    #[cfg(not(feature = "tch"))]
    {
        0
    }
}

/// Runs `f`, turning a libtorch out-of-memory panic into [`DeviceError::OutOfMemory`] that
/// names `stage` (e.g. "training teacher-0") and its `batch_size`. Any other panic carries on
/// unwinding.
///
/// burn-tch panics on libtorch errors rather than returning them, so this is the one place
/// where w2s can catch an OOM and say what to change.
pub fn catch_out_of_memory<T>(stage: &str, batch_size: usize, f: impl FnOnce() -> T) -> Result<T, DeviceError> {
    let previous_hook = std::panic::take_hook();
    // Keep the default hook's message for real bugs, but not for an OOM we turn into an error.
    std::panic::set_hook(Box::new(|info| {
        if !is_out_of_memory(&panic_message(info.payload())) {
            eprintln!("{info}");
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous_hook);
    result.map_err(|payload| {
        let message = panic_message(payload.as_ref());
        if is_out_of_memory(&message) {
            DeviceError::OutOfMemory {
                stage: stage.to_string(),
                batch_size,
                detail: first_line(&message),
            }
        } else {
            std::panic::resume_unwind(payload)
        }
    })
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn is_out_of_memory(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("out of memory") || message.contains("outofmemory")
}

/// The first line of libtorch's message, without the C++ backtrace that follows it.
fn first_line(message: &str) -> String {
    let line = message
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("out of memory"))
        .unwrap_or(message);
    line.trim().chars().take(240).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!("flex".parse::<DeviceChoice>().unwrap(), DeviceChoice::Flex);
        assert_eq!(
            "libtorch-cpu".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::LibTorchCpu
        );
        assert_eq!("cuda:1".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(1));
        assert_eq!("cuda".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cuda(0));
        assert!(
            "gpu"
                .parse::<DeviceChoice>()
                .unwrap_err()
                .to_string()
                .contains("cuda:N")
        );
        assert!("cuda:x".parse::<DeviceChoice>().is_err());
        for choice in ["auto", "cpu", "flex", "libtorch-cpu", "cuda:3"] {
            assert_eq!(choice.parse::<DeviceChoice>().unwrap().to_string(), choice);
        }
    }

    #[test]
    fn parses_device_lists() {
        assert_eq!(
            parse_devices("cuda:0, cuda:1").unwrap(),
            vec![DeviceChoice::Cuda(0), DeviceChoice::Cuda(1)]
        );
        assert_eq!(parse_devices("cpu").unwrap(), vec![DeviceChoice::Cpu]);
        assert!(parse_devices("cuda:0,tpu").is_err());
    }

    #[test]
    fn data_parallel_devices_must_share_a_backend() {
        use DeviceChoice::{Cpu, Cuda, Flex, LibTorchCpu};
        assert_eq!(concrete_devices(&[Flex, Flex]).unwrap(), [Flex, Flex]);
        assert_eq!(concrete_devices(&[Flex]).unwrap(), [Flex]);
        // Refused on every build, before looking for the GPU.
        for (mix, list, backends) in [
            (vec![Flex, Cuda(0)], "flex,cuda:0", "flex and cuda"),
            (
                vec![Cuda(0), Cuda(1), LibTorchCpu],
                "cuda:0,cuda:1,libtorch-cpu",
                "cuda and libtorch-cpu",
            ),
        ] {
            let message = concrete_devices(&mix).unwrap_err().to_string();
            assert!(
                message.contains(&format!("`--devices {list}` mixes backends ({backends})")),
                "{message}"
            );
        }
        // `cpu` is the build's faster CPU backend: libtorch-cpu with libtorch, else flex.
        match concrete_devices(&[Cpu, Flex]) {
            Ok(devices) => assert!(!cfg!(feature = "tch") && devices == [Flex, Flex], "{devices:?}"),
            Err(error) => assert!(
                cfg!(feature = "tch") && error.to_string().contains("mixes backends"),
                "{error}"
            ),
        }
    }

    #[test]
    fn cpu_always_resolves() {
        for choice in [DeviceChoice::Auto, DeviceChoice::Cpu, DeviceChoice::Flex] {
            assert!(choice.resolve().is_ok(), "{choice}");
        }
    }

    #[cfg(not(feature = "tch"))]
    #[test]
    fn libtorch_devices_without_the_backend_are_a_clear_error() {
        for choice in [DeviceChoice::Cuda(0), DeviceChoice::LibTorchCpu] {
            let message = choice.resolve().unwrap_err().to_string();
            assert!(message.contains("--features tch"), "{message}");
        }
        assert_eq!(DeviceChoice::Cpu.concrete().unwrap(), DeviceChoice::Flex);
    }

    #[test]
    fn libtorch_stages_and_results_name_the_torch_version() {
        assert_eq!(DeviceChoice::Flex.cache_backend(), None);
        assert_eq!(DeviceChoice::Flex.compute("f32"), "flex f32");
        assert_eq!(
            LINKED_TORCH.is_some(),
            cfg!(feature = "tch"),
            "a tch build records its torch version"
        );
        if let Some(torch) = LINKED_TORCH {
            let key = format!("libtorch-cpu/{LIBTORCH_KERNELS}/torch-{torch}");
            assert_eq!(DeviceChoice::LibTorchCpu.cache_backend(), Some(key));
            assert_eq!(
                DeviceChoice::Cuda(1).cache_backend(),
                Some(format!("cuda/{LIBTORCH_KERNELS}/torch-{torch}"))
            );
            assert_eq!(
                DeviceChoice::Cuda(0).compute("bf16"),
                format!("cuda bf16 (torch {torch})")
            );
        }
    }

    #[cfg(feature = "tch")]
    #[test]
    fn the_torch_loaded_is_the_one_the_build_linked_against() {
        // A compile error, not a skip, when build.rs failed to record the version.
        let built = env!("W2S_TORCH_VERSION");
        let lib_dir = crate::libtorch_version::loaded_lib_dir().expect("libtorch_cpu.so is mapped");
        assert_eq!(
            crate::libtorch_version::version_of_lib_dir(&lib_dir).as_deref(),
            Some(built),
            "{}",
            lib_dir.display()
        );
        assert!(check_loaded_torch().is_ok());
    }

    #[test]
    fn another_torch_than_the_build_linked_against_is_refused_with_the_fix() {
        let torch = tempfile::tempdir().unwrap();
        std::fs::write(torch.path().join("version.py"), "__version__ = '2.8.0+cu128'\n").unwrap();
        let lib_dir = torch.path().join("lib");
        let message = check_torch(Some("2.9.0"), Some(lib_dir.clone()))
            .unwrap_err()
            .to_string();
        let loaded_from = format!("loaded torch 2.8.0 from {}", lib_dir.display());
        for part in [
            "built against torch 2.9.0",
            &loaded_from,
            "`just build`",
            "LD_LIBRARY_PATH",
        ] {
            assert!(message.contains(part), "{message}");
        }
        assert!(check_torch(Some("2.8.0"), Some(lib_dir.clone())).is_ok());
        assert!(check_torch(None, Some(lib_dir)).is_ok());
        assert!(check_torch(Some("2.9.0"), None).is_ok());
    }

    #[cfg(feature = "tch")]
    #[test]
    fn a_missing_cuda_device_is_a_clear_error() {
        let found = cuda_device_count();
        let message = DeviceChoice::Cuda(found).resolve().unwrap_err().to_string();
        assert!(
            message.contains(&format!("cuda:{found}")) && message.contains("libtorch sees"),
            "{message}"
        );
        assert_eq!(DeviceChoice::Cpu.concrete().unwrap(), DeviceChoice::LibTorchCpu);
    }

    #[test]
    fn out_of_memory_panics_become_errors() {
        let oom = catch_out_of_memory("training student", 64, || -> () {
            std::panic::panic_any(
                "Torch(\"CUDA out of memory. Tried to allocate 2.00 GiB\nException raised from ...\")".to_string(),
            )
        });
        let message = oom.unwrap_err().to_string();
        assert!(
            message.contains("training student at batch size 64") && message.contains("batch_size=32"),
            "{message}"
        );
        assert!(!message.contains("Exception raised"), "{message}");
        assert_eq!(catch_out_of_memory("x", 8, || 3).unwrap(), 3);
        let other = std::panic::catch_unwind(|| catch_out_of_memory("x", 8, || panic!("a real bug")));
        assert!(other.is_err(), "other panics keep unwinding");
    }
}
