//! The runtime library's source, embedded at build time (see `build.rs`), and the cache
//! directories the kernel extracts it to and builds notebooks in.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/runtime_files.rs"));
}

/// The root of rustpx's per-user cache: `$RUSTPX_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/rustpx`, else `~/.cache/rustpx`.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("RUSTPX_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("rustpx")
}

/// The directory for this exact runtime: the version plus a hash of the embedded files,
/// so a rebuilt kernel never links a stale runtime.
pub fn version_dir() -> PathBuf {
    cache_root().join(format!("{}-{}", env!("CARGO_PKG_VERSION"), generated::HASH))
}

/// Writes the embedded runtime crate under [`version_dir`] (once; a marker file records a
/// complete extraction) and returns the crate's directory.
pub fn extract() -> Result<PathBuf> {
    extract_crate(&version_dir().join("runtime"), generated::FILES)
}

/// Writes the embedded `rustpx-mpi` crate (what engine cells link) as [`extract`] does,
/// in a directory of its own version, so a change to it does not rebuild the runtime.
pub fn extract_mpi() -> Result<PathBuf> {
    extract_crate(&mpi_dir(), generated::MPI_FILES)
}

/// Where [`extract_mpi`] puts `rustpx-mpi`.
fn mpi_dir() -> PathBuf {
    cache_root().join(format!("rustpx-mpi-{}", generated::MPI_HASH))
}

/// Whether `path` lies in the directory of a crate this binary embeds: those
/// directories are named by a hash of their contents, so their files never change.
pub fn is_embedded(path: &Path) -> bool {
    path.starts_with(version_dir()) || path.starts_with(mpi_dir())
}

/// Writes `files` under `dir` once (a marker file records a complete extraction).
fn extract_crate(dir: &Path, files: &[(&str, &[u8])]) -> Result<PathBuf> {
    let done = dir.join(".complete");
    if done.exists() {
        return Ok(dir.to_path_buf());
    }
    write_files(dir, files)?;
    std::fs::write(&done, b"").with_context(|| format!("marking {} extracted", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// Ends the runtime's manifest once extracted: in the workspace it is a member, under
/// the cache it is a root of its own, so cargo never looks for a workspace above it.
const STANDALONE: &[u8] = b"\n[workspace]\n";

fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<()> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let contents = if *rel == "Cargo.toml" {
            [bytes, STANDALONE].concat()
        } else {
            bytes.to_vec()
        };
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The embedded `Cargo.lock`, used to pin the notebook crate's dependency versions to
/// the ones the runtime was tested with (and to avoid a registry lookup).
pub fn cargo_lock() -> &'static [u8] {
    generated::FILES
        .iter()
        .find(|(rel, _)| *rel == "Cargo.lock")
        .map_or(&[], |(_, bytes)| bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_runtime_but_not_the_kernel() {
        let names: Vec<&str> = generated::FILES.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"src/lib.rs"));
        assert!(names.contains(&"src/interrupt.rs"));
        assert!(names.contains(&"Cargo.toml"));
        assert!(
            !names
                .iter()
                .any(|n| *n == "src/main.rs" || n.starts_with("tests/"))
        );
        assert!(!cargo_lock().is_empty());
        let mpi: Vec<&str> = generated::MPI_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(mpi, ["Cargo.toml", "src/lib.rs"]);
    }

    #[test]
    fn embedded_manifest_has_only_runtime_dependencies() {
        let (_, manifest) = generated::FILES
            .iter()
            .find(|(n, _)| *n == "Cargo.toml")
            .unwrap();
        let manifest = std::str::from_utf8(manifest).unwrap();
        assert!(manifest.contains("crossbeam-channel"));
        for kernel_dep in ["evcxr", "jupyter-protocol", "tokio", "clap"] {
            assert!(
                !manifest.contains(kernel_dep),
                "{kernel_dep} leaked into the runtime"
            );
        }
    }

    #[test]
    fn writes_every_file() {
        let tmp = tempfile::tempdir().unwrap();
        write_files(tmp.path(), generated::FILES).unwrap();
        assert!(tmp.path().join("src/lib.rs").is_file());
        let manifest = std::fs::read_to_string(tmp.path().join("Cargo.toml")).unwrap();
        assert!(manifest.ends_with("[workspace]\n"), "{manifest}");
    }
}
