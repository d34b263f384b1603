//! [`AsyncMapResult<R>`]: the results of a map computed in the background.

use super::{Tracker, tracker_accessors};
use crate::job::{Body, Failure, Job, Wait, collect};
use crate::schedule::Plan;
use crate::{Client, Error, TaskError, TaskErrorKind};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// The pending results of a `map_async`, one per item.
///
/// It needs a `'static` closure and items, because the call outlives the statement that
/// started it. Passing a closure that borrows a local fails to compile with "borrowed
/// value does not live long enough" (or "closure may outlive the current function"):
/// move the data in (`move |x| …`, an `Arc`), or use the blocking `map`, which may borrow.
///
/// ```compile_fail
/// let rc = rustpx::Client::local(2).unwrap();
/// let scale = vec![2.0_f64];
/// // error[E0373]/[E0597]: the closure borrows `scale`, which the background call may outlive
/// let amr = rc.load_balanced_view().map_async(0..10, |x| x as f64 * scale[0]);
/// ```
///
/// Reading results in place ([`iter`](Self::iter), [`iter_completed`](Self::iter_completed))
/// hands out `&R` through a handle other threads may share, so it needs `R: Sync`;
/// [`get`](Self::get) moves the results out and needs only `R: Send`. A `Cell` result
/// cannot be read in place, so two threads can never mutate it at once:
///
/// ```compile_fail,E0277
/// use std::cell::Cell;
/// let rc = rustpx::Client::local(2).unwrap();
/// let amr = rc.load_balanced_view().map_async(0..2, |_| Cell::new(0));
/// std::thread::scope(|s| {
///     // error[E0277]: `Cell<i32>` cannot be shared between threads safely
///     s.spawn(|| amr.iter().for_each(|c| c.unwrap().set(1)));
///     amr.iter().for_each(|c| c.unwrap().set(2));
/// });
/// ```
///
/// ```compile_fail,E0277
/// use std::cell::Cell;
/// let rc = rustpx::Client::local(2).unwrap();
/// let amr = rc.load_balanced_view().map_async(0..2, |_| Cell::new(0));
/// std::thread::scope(|s| {
///     // error[E0277]: `Cell<i32>` cannot be shared between threads safely
///     s.spawn(|| amr.iter_completed().for_each(|(_, c)| c.unwrap().set(1)));
///     amr.iter_completed().for_each(|(_, c)| c.unwrap().set(2));
/// });
/// ```
///
/// ```
/// use std::cell::Cell;
/// let rc = rustpx::Client::local(2)?;
/// let cells = rc.load_balanced_view().map_async(0..2, |x| Cell::new(x)).get()?;
/// assert_eq!(cells[1].get(), 1);
/// # Ok::<(), rustpx::Error>(())
/// ```
///
/// ```
/// let rc = rustpx::Client::local(2)?;
/// let amr = rc.load_balanced_view().map_async(0..100u64, |x| x * x);
/// amr.wait_interactive()?;
/// assert_eq!((amr.progress(), amr.len()), (100, 100));
/// assert!(amr.wall_time().is_some() && amr.speedup().is_some());
/// let first: Vec<u64> = amr.iter().take(3).map(|r| *r.unwrap()).collect();
/// assert_eq!(first, vec![0, 1, 4]);
/// assert_eq!(amr.get()?[99], 9801);
/// # Ok::<(), rustpx::Error>(())
/// ```
pub struct AsyncMapResult<R> {
    tracker: Tracker,
    job: Arc<Job<'static, R>>,
}

impl<R: Send + 'static> AsyncMapResult<R> {
    pub(crate) fn new(job: Arc<Job<'static, R>>, client: Client) -> AsyncMapResult<R> {
        AsyncMapResult {
            tracker: Tracker::new(job.clone(), client),
            job,
        }
    }

    /// A map refused before any task ran (too many items): ready at once, and its
    /// `wait` and `get` return `error`.
    pub(crate) fn refused(error: Error, targets: &[usize], client: Client) -> AsyncMapResult<R> {
        let never: Body<'static, R> =
            Box::new(|_, i| Err(Failure::Error(format!("item {i} of a refused map"))));
        // An empty job, never submitted: it gives the accessors a finished call to read.
        let job = Job::new(0, Plan::Static, targets, None, never);
        AsyncMapResult {
            tracker: Tracker::refused(job.clone(), client, error),
            job,
        }
    }

    tracker_accessors!();

    /// The refusal as the one item error the iterators yield.
    fn refusal(&self) -> Option<TaskError> {
        let refusal = self.tracker.refusal()?;
        Some(TaskError::new(
            None,
            0,
            TaskErrorKind::Cancelled,
            refusal.to_string(),
        ))
    }

    /// How many items (tasks) the map has.
    pub fn len(&self) -> usize {
        self.tracker.len()
    }

    /// Whether the map has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits, then returns the results in item order.
    ///
    /// # Errors
    /// [`Error::Tasks`] with every failure (including tasks aborted before they started);
    /// [`Error::Interrupted`] as in [`wait`](Self::wait).
    pub fn get(self) -> Result<Vec<R>, Error> {
        self.tracker.wait()?;
        collect(self.job.take_all())
    }

    /// Waits until `cond` holds; on an interrupt aborts and reports it.
    fn block_until(&self, cond: &dyn Fn() -> bool) -> Result<(), TaskError> {
        let job = &self.job;
        match job
            .core()
            .wait(&|_| cond(), None, true, &|| job.check_timeouts())
        {
            Wait::Interrupted => {
                job.abort();
                Err(TaskError::new(
                    None,
                    0,
                    TaskErrorKind::Cancelled,
                    "interrupted",
                ))
            }
            _ => Ok(()),
        }
    }
}

impl<R: Send + Sync + 'static> AsyncMapResult<R> {
    /// The results in item order, each as soon as it is ready (blocking for the next).
    /// An interrupt aborts the map and ends the iteration with one `Cancelled` error.
    ///
    /// A map refused before it started (too many items) yields one `Cancelled` error
    /// naming the count.
    pub fn iter(&self) -> InOrder<'_, R> {
        InOrder {
            amr: self,
            next: 0,
            refusal: self.refusal(),
            stopped: false,
        }
    }

    /// `(item index, result)` in the order the tasks finish.
    ///
    /// ```
    /// let rc = rustpx::Client::local(2)?;
    /// let amr = rc.load_balanced_view().map_async(vec![3, 1, 2], |x| x * 10);
    /// let mut got: Vec<(usize, i32)> =
    ///     amr.iter_completed().map(|(i, r)| (i, *r.unwrap())).collect();
    /// got.sort();
    /// assert_eq!(got, vec![(0, 30), (1, 10), (2, 20)]);
    /// # Ok::<(), rustpx::Error>(())
    /// ```
    pub fn iter_completed(&self) -> Completed<'_, R> {
        Completed {
            amr: self,
            refusal: self.refusal(),
            unseen: (0..self.len()).collect(),
            batch: VecDeque::new(),
            stopped: false,
        }
    }

    fn result(&self, i: usize) -> Option<Result<&R, TaskError>> {
        self.job
            .peek(i)
            .map(|o| o.as_ref().map_err(|e| (**e).clone()))
    }
}

/// Iterator of [`AsyncMapResult::iter`].
pub struct InOrder<'a, R> {
    amr: &'a AsyncMapResult<R>,
    next: usize,
    refusal: Option<TaskError>,
    stopped: bool,
}

impl<'a, R: Send + Sync + 'static> Iterator for InOrder<'a, R> {
    type Item = Result<&'a R, TaskError>;
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(refusal) = self.refusal.take() {
            return Some(Err(refusal));
        }
        if self.stopped || self.next >= self.amr.len() {
            return None;
        }
        let i = self.next;
        if let Err(e) = self.amr.block_until(&|| self.amr.job.is_resolved(i)) {
            self.stopped = true;
            return Some(Err(e));
        }
        self.next += 1;
        self.amr.result(i)
    }
}

/// Iterator of [`AsyncMapResult::iter_completed`].
pub struct Completed<'a, R> {
    amr: &'a AsyncMapResult<R>,
    refusal: Option<TaskError>,
    unseen: Vec<usize>,
    batch: VecDeque<usize>,
    stopped: bool,
}

impl<'a, R: Send + Sync + 'static> Iterator for Completed<'a, R> {
    type Item = (usize, Result<&'a R, TaskError>);
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(refusal) = self.refusal.take() {
            return Some((0, Err(refusal)));
        }
        loop {
            if let Some(i) = self.batch.pop_front() {
                return self.amr.result(i).map(|r| (i, r));
            }
            if self.stopped || self.unseen.is_empty() {
                return None;
            }
            let job = &self.amr.job;
            let waited = self
                .amr
                .block_until(&|| self.unseen.iter().any(|&i| job.is_resolved(i)));
            if let Err(e) = waited {
                self.stopped = true;
                return Some((e.task, Err(e)));
            }
            let (done, rest): (Vec<usize>, Vec<usize>) =
                self.unseen.iter().partition(|&&i| job.is_resolved(i));
            self.unseen = rest;
            self.batch.extend(done);
        }
    }
}

impl<R: Send + 'static> fmt::Debug for AsyncMapResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<AsyncMapResult: {:?}, {}/{} done>",
            self.state(),
            self.progress(),
            self.len()
        )
    }
}
