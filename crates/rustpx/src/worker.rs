//! Which worker a task runs on: the [`Worker`] context given to `apply` closures, and
//! [`worker_id`] / [`current_worker`] for code that has no context at hand.

use std::cell::Cell;

thread_local! {
    // (registry id, worker id) of a worker thread; set once when the thread starts.
    static CURRENT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

/// The worker a task runs on, handed to the closures of
/// [`DirectView::apply`](crate::DirectView::apply) and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worker {
    id: usize,
    position: usize,
}

impl Worker {
    pub(crate) fn new(id: usize, position: usize) -> Worker {
        Worker { id, position }
    }

    /// The worker's id in its client (0-based, stable for the client's life).
    ///
    /// ```
    /// let rc = rustpx::Client::local(3)?;
    /// let ids = rc.view(1..)?.apply(|w| w.id())?;
    /// assert_eq!(ids.into_values(), vec![1, 2]);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn id(&self) -> usize {
        self.id
    }

    /// The worker's position among the view's targets (the index of its input in
    /// [`DirectView::apply_with`](crate::DirectView::apply_with)).
    pub fn position(&self) -> usize {
        self.position
    }

    /// Whether the running task was told to stop; the same as [`cancelled()`](crate::cancelled).
    pub fn cancelled(&self) -> bool {
        crate::cancel::cancelled()
    }
}

/// The id of the worker running the calling code.
///
/// # Panics
/// Panics with a clear message when called outside a worker thread (in the notebook's
/// own code rather than inside a task); use [`current_worker`] to check first.
///
/// ```
/// let rc = rustpx::Client::local(2)?;
/// let ids = rc.direct_view().apply(|_| rustpx::worker_id())?;
/// assert_eq!(ids.into_values(), vec![0, 1]);
/// # Ok::<(), rustpx::Error>(())
/// ```
pub fn worker_id() -> usize {
    match current_worker() {
        Some(id) => id,
        None => panic!(
            "worker_id() called outside a worker: only code running as a task \
             (apply, map, :px) has a worker id; use current_worker() to check"
        ),
    }
}

/// The id of the worker running the calling code, or `None` outside a worker thread.
///
/// ```
/// assert_eq!(rustpx::current_worker(), None);
/// ```
pub fn current_worker() -> Option<usize> {
    CURRENT.with(|c| c.get()).map(|(_, w)| w)
}

/// The (registry, worker) of the calling thread, if it is a worker.
pub(crate) fn current() -> Option<(usize, usize)> {
    CURRENT.with(|c| c.get())
}

pub(crate) fn set_current(registry: usize, worker: usize) {
    CURRENT.with(|c| c.set(Some((registry, worker))));
}
