//! The engines' half of `push`, `scatter`, `pull` and `gather`: the kernel compiles one
//! cell that calls [`take`] or [`put`] on every engine, with the transfer directory's
//! path and the engine's rank.
//!
//! In the transfer directory `push/all` holds one value for every engine and `push/R`
//! engine R's own (a scatter); engine R writes `pull/R` for the notebook to read (the
//! layout `crate::protocol::EngineRequest` describes). A transfer moves one variable at
//! a time, so the files need no variable names.
//!
//! An engine on a host that cannot see the transfer directory (it runs from its mirror,
//! see [`ENGINE_MIRRORED_ENV`]) is sent its push files by the kernel's hub, into
//! `transfer-R/push/` in its mirror, and hands a pulled value to the hub as an
//! [`Event::Pulled`] line on its output, which the hub writes to `pull/R`.

use crate::protocol::{ENGINE_MIRROR_ENV, ENGINE_MIRRORED_ENV, Event};
use base64::Engine;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a value could not move between this engine and the notebook.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The kernel's file for this engine is missing or unreadable, or this engine's could
    /// not be written.
    #[error("engine {rank}: {path}: {source}")]
    File {
        /// This engine.
        rank: usize,
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The bytes are not a value of the variable's type, or the value cannot be
    /// serialized.
    #[error("engine {rank}: `{name}`: {message}")]
    Serde {
        /// This engine.
        rank: usize,
        /// The variable.
        name: String,
        /// serde's reason.
        message: String,
    },
}

/// The value the notebook pushed (or scattered) as `name` for engine `rank`.
///
/// ```no_run
/// let threshold: f64 = rustpx::engines::take("/tmp/transfer", 0, "threshold")?;
/// # Ok::<(), rustpx::engines::TransferError>(())
/// ```
pub fn take<T: DeserializeOwned>(
    transfer: impl AsRef<Path>,
    rank: usize,
    name: &str,
) -> Result<T, TransferError> {
    match mirrored_transfer(rank) {
        Some(mirror) => take_from(&mirror, rank, name, true),
        None => take_from(transfer.as_ref(), rank, name, false),
    }
}

/// [`take`] from the transfer directory `dir`; `consume`: remove the files read (the
/// kernel removes its own after the push; a mirror's are this engine's to remove).
fn take_from<T: DeserializeOwned>(
    dir: &Path,
    rank: usize,
    name: &str,
    consume: bool,
) -> Result<T, TransferError> {
    let push = dir.join("push");
    let own = push.join(rank.to_string());
    let path = if own.exists() {
        own.clone()
    } else {
        push.join("all")
    };
    let read = std::fs::read(&path);
    if consume {
        let _ = std::fs::remove_file(&own);
        let _ = std::fs::remove_file(push.join("all"));
    }
    let bytes = read.map_err(|source| TransferError::File { rank, path, source })?;
    postcard::from_bytes(&bytes).map_err(|e| TransferError::Serde {
        rank,
        name: name.into(),
        message: e.to_string(),
    })
}

/// Hands engine `rank`'s `value` of the variable `name` to the notebook's `pull`.
///
/// ```no_run
/// let found = vec![1.5f64, 2.5];
/// rustpx::engines::put("/tmp/transfer", 0, "found", &found)?;
/// # Ok::<(), rustpx::engines::TransferError>(())
/// ```
pub fn put<T: Serialize + ?Sized>(
    transfer: impl AsRef<Path>,
    rank: usize,
    name: &str,
    value: &T,
) -> Result<(), TransferError> {
    // Into memory first: postcard writing to a file makes a write call per field.
    let bytes = postcard::to_stdvec(value).map_err(|e| TransferError::Serde {
        rank,
        name: name.into(),
        message: e.to_string(),
    })?;
    if mirrored_transfer(rank).is_some() {
        let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
        return to_hub(&Event::Pulled { data }).map_err(|source| TransferError::File {
            rank,
            path: "stdout".into(),
            source,
        });
    }
    let path = transfer.as_ref().join("pull").join(rank.to_string());
    std::fs::write(&path, bytes).map_err(|source| TransferError::File { rank, path, source })
}

/// Writes `event` for the kernel's hub, which reads this engine's output (whether or not
/// a kernel reads the hub's, unlike [`crate::protocol::emit`]).
pub(super) fn to_hub(event: &Event) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", event.to_line())?;
    out.flush()
}

/// This engine's transfer directory in its mirror, if it runs from one.
pub(super) fn mirrored_transfer(rank: usize) -> Option<PathBuf> {
    std::env::var_os(ENGINE_MIRRORED_ENV)?;
    let mirror = PathBuf::from(std::env::var_os(ENGINE_MIRROR_ENV)?);
    Some(mirror.join(mirrored_transfer_name(rank)))
}

/// The name of engine `rank`'s transfer directory inside its mirror (one per engine:
/// engines on one host share the mirror).
///
/// ```
/// assert_eq!(rustpx::engines::mirrored_transfer_name(3), "transfer-3");
/// ```
pub fn mirrored_transfer_name(rank: usize) -> String {
    format!("transfer-{rank}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_takes_its_own_part_before_the_common_value() {
        let dir = tempfile::tempdir().unwrap();
        let push = dir.path().join("push");
        std::fs::create_dir(&push).unwrap();
        std::fs::write(push.join("all"), postcard::to_stdvec(&7u32).unwrap()).unwrap();
        std::fs::write(push.join("1"), postcard::to_stdvec(&9u32).unwrap()).unwrap();
        assert_eq!(take_from::<u32>(dir.path(), 0, "n", false).unwrap(), 7);
        assert_eq!(take_from::<u32>(dir.path(), 1, "n", false).unwrap(), 9);
        assert!(
            push.join("all").exists(),
            "the kernel's files are the kernel's to remove"
        );
        // A mirror's files are removed once read, so a later push cannot meet them.
        assert_eq!(take_from::<u32>(dir.path(), 1, "n", true).unwrap(), 9);
        assert!(!push.join("1").exists() && !push.join("all").exists());
        let missing = take_from::<u32>(dir.path(), 1, "n", true).unwrap_err();
        assert!(missing.to_string().starts_with("engine 1: "), "{missing}");
    }

    #[test]
    fn a_value_of_another_type_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("push")).unwrap();
        std::fs::write(dir.path().join("push/all"), [0xff]).unwrap();
        let error = take_from::<String>(dir.path(), 2, "label", false).unwrap_err();
        assert!(
            error.to_string().starts_with("engine 2: `label`: "),
            "{error}"
        );
    }

    #[test]
    fn a_value_put_on_a_shared_host_is_a_file_for_the_notebook() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("pull")).unwrap();
        put(dir.path(), 3, "v", &vec![1u8, 2]).unwrap();
        let bytes = std::fs::read(dir.path().join("pull/3")).unwrap();
        assert_eq!(postcard::from_bytes::<Vec<u8>>(&bytes).unwrap(), [1, 2]);
    }
}
