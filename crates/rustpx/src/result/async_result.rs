//! [`AsyncResult<T>`]: one value computed in the background.

use super::{Status, Tracker, tracker_accessors};
use crate::Error;
use std::fmt;
use std::sync::Arc;

type Finish<T> = Box<dyn FnOnce() -> Result<T, Error> + Send + Sync>;

/// The pending result of an `apply_async`: a [`PerWorker`](crate::PerWorker) for a direct
/// view, one value for a load-balanced view.
///
/// ```
/// let rc = rustpx::Client::local(2)?;
/// let ar = rc.load_balanced_view().apply_async(|| 6 * 7);
/// assert_eq!(ar.get()?, 42);
/// let ar = rc.direct_view().apply_async(|w| w.id());
/// ar.wait()?;
/// assert!(ar.ready() && ar.successful() == Some(true));
/// assert_eq!(ar.get()?.into_values(), vec![0, 1]);
/// # Ok::<(), rustpx::Error>(())
/// ```
pub struct AsyncResult<T> {
    tracker: Tracker,
    finish: Finish<T>,
}

impl<T> AsyncResult<T> {
    pub(crate) fn new(
        status: Arc<dyn Status>,
        client: crate::Client,
        finish: Finish<T>,
    ) -> AsyncResult<T> {
        AsyncResult {
            tracker: Tracker::new(status, client),
            finish,
        }
    }

    tracker_accessors!();

    /// How many tasks the call has (the number of targets for a direct `apply_async`).
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether the call has no tasks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits, then returns the value.
    ///
    /// # Errors
    /// [`Error::Tasks`] with every failure; [`Error::Interrupted`] as in [`wait`](Self::wait).
    pub fn get(self) -> Result<T, Error> {
        self.tracker.wait()?;
        (self.finish)()
    }
}

impl<T> fmt::Debug for AsyncResult<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<AsyncResult: {:?}, {}/{} done>",
            self.state(),
            self.progress(),
            self.len()
        )
    }
}
