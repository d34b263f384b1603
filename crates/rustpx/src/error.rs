//! Errors of the runtime: [`Error`] for a call, [`TaskError`] for one failed task,
//! [`TaskErrors`] for all failures of a call, [`Cancelled`] for a task told to stop.

use std::fmt;

/// How many failures [`TaskErrors`]'s `Display` shows in full before summarising.
const SHOWN_IN_FULL: usize = 5;

/// Why a task failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskErrorKind {
    /// The task panicked.
    Panic,
    /// The task returned `Err` (the `try_` calls).
    Error,
    /// The task was still running when its time limit ran out.
    Timeout,
    /// The task never ran (aborted or interrupted before it started) or stopped
    /// because it saw [`cancelled()`](crate::cancelled).
    Cancelled,
    /// Its item could not be produced (an undecodable frame).
    Item,
}

impl fmt::Display for TaskErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskErrorKind::Panic => "panicked",
            TaskErrorKind::Error => "failed",
            TaskErrorKind::Timeout => "timed out",
            TaskErrorKind::Cancelled => "cancelled",
            TaskErrorKind::Item => "bad item",
        })
    }
}

/// One failed task: where it ran, which it was, and why it failed.
///
/// ```
/// use rustpx::{Client, Error, TaskErrorKind};
/// let rc = Client::local(2)?;
/// let err = rc.load_balanced_view().map(0..4, |i| {
///     if i == 2 { panic!("bad item {i}") }
///     i
/// }).unwrap_err();
/// let Error::Tasks(errors) = err else { unreachable!() };
/// let e = &errors.errors()[0];
/// assert_eq!((e.task, e.kind), (2, TaskErrorKind::Panic));
/// assert_eq!(e.message, "bad item 2");
/// assert!(e.location.as_deref().unwrap().contains(".rs:"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    /// The worker that ran the task; `None` if it never started.
    pub worker: Option<usize>,
    /// The task's index: the item's position in the map's input (for a direct
    /// `apply`, the target's position in the view).
    pub task: usize,
    /// The panic message, the error's `Display`, or why it was stopped.
    pub message: String,
    /// `file:line:column` of the panic, when the task panicked.
    pub location: Option<String>,
    /// Why it failed.
    pub kind: TaskErrorKind,
}

impl TaskError {
    pub(crate) fn new(
        worker: Option<usize>,
        task: usize,
        kind: TaskErrorKind,
        message: impl Into<String>,
    ) -> TaskError {
        TaskError {
            worker,
            task,
            message: message.into(),
            location: None,
            kind,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.task)?;
        if let Some(w) = self.worker {
            write!(f, " on worker {w}")?;
        }
        write!(f, " {}", self.kind)?;
        if let Some(loc) = &self.location {
            write!(f, " at {loc}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TaskError {}

/// Every failure of one call (ipyparallel's `CompositeError`), sorted by task index.
///
/// `Display` shows the first few in full, then `... and N more`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskErrors {
    errors: Vec<TaskError>,
    total: usize,
}

impl TaskErrors {
    /// Collects failures out of `total` tasks.
    pub fn new(mut errors: Vec<TaskError>, total: usize) -> TaskErrors {
        errors.sort_by_key(|e| e.task);
        TaskErrors { errors, total }
    }

    /// The failures, by task index.
    pub fn errors(&self) -> &[TaskError] {
        &self.errors
    }

    /// Takes the failures.
    pub fn into_vec(self) -> Vec<TaskError> {
        self.errors
    }

    /// How many tasks failed.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Whether no task failed (never the case for an error returned by the runtime).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many tasks the call had.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The failures, by task index.
    pub fn iter(&self) -> std::slice::Iter<'_, TaskError> {
        self.errors.iter()
    }
}

impl<'a> IntoIterator for &'a TaskErrors {
    type Item = &'a TaskError;
    type IntoIter = std::slice::Iter<'a, TaskError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for TaskErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {} tasks failed", self.errors.len(), self.total)?;
        // Tasks that never started only echo the real failure; show real ones first.
        let mut shown: Vec<&TaskError> = self.errors.iter().collect();
        shown.sort_by_key(|e| (e.kind == TaskErrorKind::Cancelled, e.task));
        for e in shown.iter().take(SHOWN_IN_FULL) {
            write!(f, "\n  {e}")?;
        }
        if shown.len() > SHOWN_IN_FULL {
            write!(f, "\n  ... and {} more", shown.len() - SHOWN_IN_FULL)?;
        }
        Ok(())
    }
}

impl std::error::Error for TaskErrors {}

/// What a call of the runtime can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A client or view with no workers (`Client::local(0)`, targets matching none).
    #[error("no workers: a client needs at least one worker and a view at least one target")]
    NoWorkers,
    /// A target that is not one of the client's workers.
    #[error("unknown worker {id}: the client has workers {workers:?}")]
    UnknownWorker {
        /// The id asked for.
        id: usize,
        /// The client's worker ids.
        workers: Vec<usize>,
    },
    /// A targets specification that does not parse (see [`Targets::parse`](crate::Targets::parse)).
    #[error("bad targets {spec:?}: {reason}")]
    BadTargets {
        /// The specification.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel was interrupted while the call waited; its pending tasks were aborted.
    #[error("interrupted")]
    Interrupted,
    /// One or more tasks failed.
    #[error("{0}")]
    Tasks(TaskErrors),
    /// A per-target input list whose length is not the number of targets.
    #[error("expected {expected} inputs (one per target), got {got}")]
    InputLength {
        /// The number of targets.
        expected: usize,
        /// The number of inputs given.
        got: usize,
    },
    /// Arrays that cannot be joined (gather of arrays with different shapes).
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A blocking call made by a task on a worker it would have to wait for: it would
    /// wait for itself forever.
    #[error("worker {worker} cannot wait for work queued on itself (a nested blocking call)")]
    WouldDeadlock {
        /// The worker that made the call.
        worker: usize,
    },
    /// `:px` could not start, or `:pxresult` has nothing to show.
    #[error(transparent)]
    Px(#[from] crate::px::PxError),
    /// Moving a value to or from the MPI engines failed.
    #[error(transparent)]
    Engines(#[from] crate::engines::EngineError),
    /// The operating system refused to start a worker thread.
    #[error("cannot start a worker thread: {0}")]
    Spawn(String),
    /// A map over more items than a `usize` can count (`i64::MIN..=i64::MAX` or
    /// `0..=u64::MAX` on a 64-bit machine has 2^64 items); refused before any task runs.
    #[error("too many items: {items} items, more than the {limit} a map can count")]
    TooManyItems {
        /// How many items the input has.
        items: u128,
        /// The most items one map can have (`usize::MAX`).
        limit: usize,
    },
    /// A map whose per-item result slots cannot be allocated (`0..usize::MAX`); refused
    /// before any task runs.
    #[error(
        "out of memory: {items} items need {bytes} bytes of result slots, more than can be allocated"
    )]
    OutOfMemory {
        /// How many items the map has.
        items: usize,
        /// The bytes their result slots need.
        bytes: u128,
    },
}

/// Returned by [`check_cancelled`](crate::check_cancelled) when the running task was
/// told to stop (abort, interrupt or timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("task cancelled")]
pub struct Cancelled;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_summarised_real_failures_first() {
        let mut errors: Vec<TaskError> = (0..3)
            .map(|t| TaskError::new(None, t, TaskErrorKind::Cancelled, "aborted"))
            .collect();
        errors.extend((3..10).map(|t| TaskError::new(Some(1), t, TaskErrorKind::Error, "boom")));
        let text = TaskErrors::new(errors, 20).to_string();
        assert!(text.starts_with("10 of 20 tasks failed\n  task 3 on worker 1 failed: boom"));
        assert!(text.ends_with("... and 5 more"), "{text}");
        assert_eq!(text.lines().count(), 7);
    }

    #[test]
    fn task_error_display_names_everything() {
        let mut e = TaskError::new(Some(0), 7, TaskErrorKind::Panic, "oops");
        e.location = Some("src/x.rs:1:2".into());
        assert_eq!(
            e.to_string(),
            "task 7 on worker 0 panicked at src/x.rs:1:2: oops"
        );
    }
}
