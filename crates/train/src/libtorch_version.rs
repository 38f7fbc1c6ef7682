//! Which torch a `tch` build was linked against, and which one the process loaded.
//!
//! A libtorch binary runs only with the torch version it was linked against, yet the dynamic
//! loader accepts another version whenever the symbols the binary needs happen to exist: a w2s
//! build against torch 2.9.0 trains on torch 2.8.0's libraries without a word. So the build
//! script records the version of the torch it links against (`W2S_TORCH_VERSION`), and
//! [`DeviceChoice::concrete`](crate::DeviceChoice::concrete) compares it with the version of
//! the `libtorch_cpu.so` that this process mapped before it hands out a libtorch device.
//!
//! Both versions are read from the torch folder: `version.py` in a PyPI wheel,
//! `build-version` in a libtorch archive. The build script includes this file, so it uses
//! nothing but `std`.

use std::path::{Path, PathBuf};

/// The version of the torch whose `lib` folder is `lib_dir`, without its local part
/// (`2.9.0+cu128` is `2.9.0`: CUDA and CPU builds of one version share the C++ ABI), or `None`
/// when the folder does not say.
pub fn version_of_lib_dir(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    let from_wheel = std::fs::read_to_string(root.join("version.py"))
        .ok()
        .and_then(|text| version_py_value(&text));
    let raw = from_wheel.or_else(|| std::fs::read_to_string(root.join("build-version")).ok())?;
    public_version(&raw)
}

/// The `lib` folder of the `libtorch_cpu.so` mapped into this process, if any (Linux only).
pub fn loaded_lib_dir() -> Option<PathBuf> {
    lib_dir_in_maps(&std::fs::read_to_string("/proc/self/maps").ok()?)
}

/// `__version__ = '2.9.0+cu128'` in torch's `version.py`.
fn version_py_value(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("__version__")?
            .trim_start()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches(['\'', '"']).to_string())
    })
}

fn public_version(raw: &str) -> Option<String> {
    let version = raw.trim().split('+').next().unwrap_or_default().trim();
    (!version.is_empty()).then(|| version.to_string())
}

/// The folder of `libtorch_cpu.so` in a `/proc/<pid>/maps` listing, whose last column is the
/// mapped file's path (which may contain spaces).
fn lib_dir_in_maps(maps: &str) -> Option<PathBuf> {
    maps.lines().find_map(|line| {
        let path = Path::new(&line[line.find('/')?..]);
        if path.file_name()? == "libtorch_cpu.so" {
            path.parent().map(Path::to_path_buf)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_of_a_wheel_and_of_a_libtorch_archive() {
        let wheel = tempfile::tempdir().unwrap();
        std::fs::create_dir(wheel.path().join("lib")).unwrap();
        std::fs::write(
            wheel.path().join("version.py"),
            "from typing import Optional\n\n__all__ = ['__version__']\n__version__ = '2.9.0+cu128'\ncuda: Optional[str] = '12.8'\n",
        )
        .unwrap();
        assert_eq!(version_of_lib_dir(&wheel.path().join("lib")).as_deref(), Some("2.9.0"));

        let archive = tempfile::tempdir().unwrap();
        std::fs::write(archive.path().join("build-version"), "2.11.0+cu130\n").unwrap();
        assert_eq!(
            version_of_lib_dir(&archive.path().join("lib")).as_deref(),
            Some("2.11.0")
        );

        let bare = tempfile::tempdir().unwrap();
        assert_eq!(version_of_lib_dir(&bare.path().join("lib")), None);
        std::fs::write(bare.path().join("build-version"), " \n").unwrap();
        assert_eq!(version_of_lib_dir(&bare.path().join("lib")), None);
    }

    #[test]
    fn finds_libtorch_cpu_among_the_mapped_files() {
        let maps = "\
55d0c0a00000-55d0c0a2e000 r--p 00000000 fc:01 1234 /usr/bin/w2s
7f0000000000-7f0000100000 r-xp 00000000 fc:01 77 /opt/my envs/torch/lib/libc10.so
7f0000200000-7f0000300000 r-xp 00000000 fc:01 78 /opt/my envs/torch/lib/libtorch_cpu.so
7f0000400000-7f0000401000 rw-p 00000000 00:00 0 [heap]
";
        assert_eq!(lib_dir_in_maps(maps), Some(PathBuf::from("/opt/my envs/torch/lib")));
        assert_eq!(
            lib_dir_in_maps("7f0000400000-7f0000401000 rw-p 00000000 00:00 0 [heap]\n"),
            None
        );
    }
}
