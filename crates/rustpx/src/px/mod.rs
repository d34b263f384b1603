//! The runtime side of the parallel magics (`:px`, `:pxresult`, `:workers`).
//!
//! The kernel rewrites `:px` code into calls to this module (see the kernel's
//! `magics::px_rewrite` for the shape of that code): [`view`] picks the target workers,
//! [`input`] hands each worker its own value of a per-worker variable, [`run`] executes
//! the code once per worker with its output tagged by worker ([`output`]), and
//! [`submit`] / [`result`] implement `--noblock` and `:pxresult`. Everything that can
//! fail does so before the notebook's variables are touched.

mod keep;
pub mod output;
mod run;
mod workers;

pub use keep::{keep, restore};
pub use run::{PxResult, result, run, submit};
pub use workers::{WorkersTable, set_workers, workers};

use crate::{DirectView, Error, PerWorker, Targets};
use std::time::Duration;

/// The error type `:px` code may return with `?`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// How one `:px` run behaves (from its flags).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PxRun {
    /// `--timeout`: fail workers still running after this long.
    pub timeout: Option<Duration>,
    /// `--group-outputs`: show output per worker at the end rather than as it arrives.
    pub group_outputs: bool,
    /// Whether the code ends in an expression to show per worker (`Out[w]`).
    pub show: bool,
}

/// Why `:px` cannot start or `:pxresult` has nothing to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PxError {
    /// A per-worker variable has no value for one of the target workers.
    #[error(
        "per-worker variable `{name}` has no value on worker {worker} (it was defined on \
         workers {defined_on:?}); use --targets within those workers"
    )]
    MissingValue {
        /// The variable.
        name: String,
        /// The worker without a value.
        worker: usize,
        /// Where it has values.
        defined_on: Vec<usize>,
    },
    /// [`restore`] found no value kept for a variable.
    #[error("no value of `{0}` was kept to restore")]
    NotKept(String),
    /// `:pxresult` with no `--noblock` run.
    #[error("no `:px --noblock` run to show: :pxresult shows the last one")]
    NothingPending,
}

/// The workers a `:px` runs on: the active view, narrowed to `targets` (ipyparallel's
/// spec: `all`, `0`, `0,2`, `1:3`, `::2`) whose ids must all be in that view.
///
/// # Errors
/// A malformed spec, or a worker id outside the active view.
pub fn view(targets: Option<&str>) -> Result<DirectView, Error> {
    let active = crate::active_view()?;
    let Some(spec) = targets else {
        return Ok(active);
    };
    let ids = Targets::parse(spec)?.resolve(active.client().len())?;
    if let Some(&id) = ids.iter().find(|id| !active.targets().contains(id)) {
        return Err(Error::UnknownWorker {
            id,
            workers: active.targets().to_vec(),
        });
    }
    active.client().view(ids)
}

/// This worker's value of the per-worker variable `var` (named `name` in errors).
///
/// # Errors
/// [`PxError::MissingValue`] if `var` has no value for `worker`.
pub fn input<'a, T>(var: &'a PerWorker<T>, name: &str, worker: usize) -> Result<&'a T, PxError> {
    var.get(worker).ok_or_else(|| PxError::MissingValue {
        name: name.to_string(),
        worker,
        defined_on: var.ids().to_vec(),
    })
}
