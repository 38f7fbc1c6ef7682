//! Crash-safe file writes and JSON reading with the path in every error.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a JSON file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadJsonError {
    /// The file could not be read.
    #[error("cannot read {}: {error}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error (in the message, so not also its source).
        error: io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("cannot parse {} (wrong format, or written by an incompatible version?): {error}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// `serde_json`'s error, with line and column.
        error: serde_json::Error,
    },
}

/// Write `bytes` to `path` so that readers see either the old file or the complete new one:
/// write a temporary file in the same directory, fsync it, then rename it over `path`.
/// Missing parent directories are created.
///
/// # Errors
/// The I/O error, with `path` in its message; the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| with_path(&e, "create directory", dir))?;

    let temp = dir.join(temp_name(file_name));
    let result = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp); // best effort; the temp file may not exist
        return Err(with_path(&e, "write", path));
    }
    sync_dir(dir);
    Ok(())
}

/// [`write_atomic`] of `value` as pretty-printed JSON with a trailing newline.
///
/// # Errors
/// As [`write_atomic`], or when `value` cannot be serialized as JSON.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| io::Error::other(format!("cannot serialize JSON for {}: {e}", path.display())))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Read `path` as JSON into `T`.
///
/// # Errors
/// [`ReadJsonError`] naming `path` when it cannot be read or does not parse as `T`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ReadJsonError> {
    let bytes = fs::read(path).map_err(|error| ReadJsonError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    serde_json::from_slice(&bytes).map_err(|error| ReadJsonError::Parse {
        path: path.to_path_buf(),
        error,
    })
}

/// A hidden name unique within this process and distinct across processes.
fn temp_name(file_name: &std::ffi::OsStr) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{}.tmp-{}-{n}", file_name.to_string_lossy(), std::process::id())
}

/// How long a temporary file of [`write_atomic`] must have been left alone before
/// [`remove_stale_temporaries`] takes it for abandoned: a write takes milliseconds, but a writer on
/// another machine that shares the folder cannot be asked whether it still runs.
pub const STALE_TEMPORARY_AGE: Duration = Duration::from_secs(60);

/// Removes the temporary files (`.<name>.tmp-<pid>-<n>`) that [`write_atomic`] calls left in
/// `dir` when their process was killed mid-write: those whose process no longer runs on this
/// machine and that have not changed for [`STALE_TEMPORARY_AGE`]. Where this machine cannot say
/// which processes run (no `/proc`), nothing is removed. Best effort: returns the files removed.
pub fn remove_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = temporary_writer(&entry.file_name()) else {
            continue;
        };
        let untouched = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age >= STALE_TEMPORARY_AGE));
        if untouched && process_is_gone(pid) && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

/// The process id in a name made by [`temp_name`]; `None` for any other name.
fn temporary_writer(file_name: &std::ffi::OsStr) -> Option<u32> {
    let name = file_name.to_str()?.strip_prefix('.')?;
    let (_, suffix) = name.rsplit_once(".tmp-")?;
    let (pid, counter) = suffix.split_once('-')?;
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether no process `pid` runs on this machine; `false` when that cannot be known.
fn process_is_gone(pid: u32) -> bool {
    let proc = Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Persist the rename itself. Best effort: some filesystems refuse to fsync a directory, and the
/// data is already safe in the renamed file.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn with_path(e: &io::Error, action: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {action} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn write_atomic_creates_parents_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.txt");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files are left behind");
    }

    #[test]
    fn write_atomic_reports_the_path_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let err = write_atomic(&blocker.join("child.txt"), b"y").unwrap_err();
        assert!(err.to_string().contains("file"), "{err}");
        let err = write_atomic(Path::new("/"), b"y").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_old_temporaries_of_dead_writers_are_removed() {
        use std::time::SystemTime;
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - STALE_TEMPORARY_AGE - Duration::from_secs(1);
        let file = |name: &str, modified: SystemTime| {
            let path = dir.path().join(name);
            File::create(&path).unwrap().set_modified(modified).unwrap();
            path
        };
        // No process has a pid above the kernel's limit (at most 2^22).
        let dead = u32::MAX;
        let stale = file(&format!(".results.json.tmp-{dead}-0"), old);
        let fresh = file(&format!(".results.csv.tmp-{dead}-1"), SystemTime::now());
        let live = file(&format!(".results.md.tmp-{}-2", std::process::id()), old);
        let others = [".results.json.tmp-x-0", "results.json", ".tmp-1-0", "a.tmp-1-0"].map(|name| file(name, old));
        assert_eq!(remove_stale_temporaries(dir.path()), vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(fresh.exists() && live.exists() && others.iter().all(|p| p.exists()));
        assert!(remove_stale_temporaries(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn temporary_names_carry_their_writer() {
        let name = temp_name(std::ffi::OsStr::new("results.json"));
        assert_eq!(temporary_writer(std::ffi::OsStr::new(&name)), Some(std::process::id()));
        assert_eq!(temporary_writer(std::ffi::OsStr::new(".a.b.tmp-12-3")), Some(12));
        assert_eq!(temporary_writer(std::ffi::OsStr::new("a.tmp-12-3")), None);
    }

    #[test]
    fn json_round_trip_is_pretty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.json");
        let value = BTreeMap::from([("a".to_string(), vec![1.5, 2.0])]);
        write_json_atomic(&path, &value).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n  \"a\"") && text.ends_with("]\n}\n"), "{text}");
        let back: BTreeMap<String, Vec<f64>> = read_json(&path).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn read_json_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = read_json::<u32>(&missing).unwrap_err();
        assert!(
            matches!(err, ReadJsonError::Io { .. }) && err.to_string().contains("missing.json"),
            "{err}"
        );
        let bad = dir.path().join("bad.json");
        fs::write(&bad, "{\"a\": ").unwrap();
        let err = read_json::<u32>(&bad).unwrap_err();
        assert!(
            matches!(err, ReadJsonError::Parse { .. }) && err.to_string().contains("bad.json"),
            "{err}"
        );
    }
}
