//! The engines' side of the notebook's `push`, `scatter`, `pull` and `gather`
//! (`rustpx::engines`): the kernel compiles a cell that calls [`take`] or [`put`] once
//! for all engines, and moves the bytes between the notebook and `dir`.
//!
//! In `dir`, `push/all` holds one value for every engine and `push/R` engine R's own (a
//! scatter); engine R writes `pull/R` for the notebook to read (the layout
//! `rustpx::protocol::EngineRequest` describes). A transfer moves one variable at a
//! time, so the files need no variable names.

use serde::Serialize;
use serde::de::DeserializeOwned;
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

/// The value the notebook pushed (or scattered) as `name` for this engine.
///
/// ```no_run
/// let threshold: f64 = rustpx_mpi::transfer::take("/tmp/transfer", "threshold")?;
/// # Ok::<(), rustpx_mpi::transfer::TransferError>(())
/// ```
pub fn take<T: DeserializeOwned>(dir: impl AsRef<Path>, name: &str) -> Result<T, TransferError> {
    let rank = crate::rank();
    let push = dir.as_ref().join("push");
    let own = push.join(rank.to_string());
    let path = if own.exists() { own } else { push.join("all") };
    let bytes =
        std::fs::read(&path).map_err(|source| TransferError::File { rank, path, source })?;
    postcard::from_bytes(&bytes).map_err(|e| TransferError::Serde {
        rank,
        name: name.into(),
        message: e.to_string(),
    })
}

/// Hands this engine's `value` of the variable `name` to the notebook's `pull`.
///
/// ```no_run
/// let found = vec![1.5f64, 2.5];
/// rustpx_mpi::transfer::put("/tmp/transfer", "found", &found)?;
/// # Ok::<(), rustpx_mpi::transfer::TransferError>(())
/// ```
pub fn put<T: Serialize + ?Sized>(
    dir: impl AsRef<Path>,
    name: &str,
    value: &T,
) -> Result<(), TransferError> {
    let rank = crate::rank();
    let path = dir.as_ref().join("pull").join(rank.to_string());
    // Into memory first: postcard writing to a file makes a write call per field.
    let bytes = postcard::to_stdvec(value).map_err(|e| TransferError::Serde {
        rank,
        name: name.into(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, bytes).map_err(|source| TransferError::File { rank, path, source })
}
