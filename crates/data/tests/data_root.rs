//! `resolve_data_root`. Kept alone in its own test binary (one test) because it
//! changes the process environment.

use std::path::{Path, PathBuf};

use w2s_data::{DATA_ROOT_ENV, DEFAULT_DATA_ROOT, resolve_data_root};

#[test]
fn flag_then_environment_then_default() {
    // SAFETY: this binary runs only this test, so no other thread reads the
    // environment while it changes.
    unsafe { std::env::set_var(DATA_ROOT_ENV, "/from/env") };
    assert_eq!(
        resolve_data_root(Some(Path::new("/from/flag"))),
        PathBuf::from("/from/flag")
    );
    assert_eq!(resolve_data_root(None), PathBuf::from("/from/env"));

    // SAFETY: as above.
    unsafe { std::env::set_var(DATA_ROOT_ENV, "") };
    assert_eq!(resolve_data_root(None), PathBuf::from(DEFAULT_DATA_ROOT));

    // SAFETY: as above.
    unsafe { std::env::remove_var(DATA_ROOT_ENV) };
    assert_eq!(resolve_data_root(None), PathBuf::from("../shared/data"));
}
