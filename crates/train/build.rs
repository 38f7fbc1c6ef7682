//! Records the version of the torch that a `tch` build links against, as `W2S_TORCH_VERSION`
//! (see src/libtorch_version.rs). torch-sys passes its libtorch `lib` folder to the crates that
//! depend on it directly, as `DEP_TCH_LIBTORCH_LIB`.

use std::path::{Path, PathBuf};

#[allow(dead_code)]
#[path = "src/libtorch_version.rs"]
mod libtorch_version;

fn main() {
    println!("cargo:rerun-if-changed=src/libtorch_version.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from) else {
        return;
    };
    // The CPU-only build links through a folder of symlinks into the wheel's torch/lib.
    let lib_dir = std::fs::canonicalize(lib.join("libtorch_cpu.so"))
        .ok()
        .and_then(|library| library.parent().map(Path::to_path_buf))
        .unwrap_or(lib);
    if let Some(version) = libtorch_version::version_of_lib_dir(&lib_dir) {
        println!("cargo:rustc-env=W2S_TORCH_VERSION={version}");
    }
}
