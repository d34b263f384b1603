//! Handles on calls in flight: [`AsyncResult`] (one value), [`AsyncMapResult`] (one
//! value per item) and [`Imap`] (results streamed as they complete).

mod async_result;
mod imap;
mod map_result;

pub use crate::job::State;
pub use async_result::AsyncResult;
pub use imap::Imap;
pub(crate) use imap::start_imap;
pub use map_result::{AsyncMapResult, Completed, InOrder};

use crate::job::{Core, Job, Wait};
use crate::progress::{self, Progress};
use crate::{Client, Error, TaskError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What both result types need from their job, without its result type.
pub(crate) trait Status: Send + Sync {
    fn core(&self) -> &Core;
    fn check_timeouts(&self);
    fn abort(&self);
    fn errors(&self) -> Vec<TaskError>;
}

impl<R: Send + 'static> Status for Job<'static, R> {
    fn core(&self) -> &Core {
        Job::core(self)
    }
    fn check_timeouts(&self) {
        Job::check_timeouts(self)
    }
    fn abort(&self) {
        Job::abort(self)
    }
    fn errors(&self) -> Vec<TaskError> {
        Job::errors(self)
    }
}

/// The shared accessors of [`AsyncResult`] and [`AsyncMapResult`]. Holding the client
/// keeps the workers alive while the result is.
pub(crate) struct Tracker {
    status: Arc<dyn Status>,
    /// Why the call was refused before any task ran (its job is empty and never ran).
    refused: Option<Error>,
    _client: Client,
}

impl Tracker {
    pub(crate) fn new(status: Arc<dyn Status>, client: Client) -> Tracker {
        Tracker {
            status,
            refused: None,
            _client: client,
        }
    }

    /// The tracker of a call refused with `error`; `status` is an empty job never run.
    pub(crate) fn refused(status: Arc<dyn Status>, client: Client, error: Error) -> Tracker {
        Tracker {
            refused: Some(error),
            ..Tracker::new(status, client)
        }
    }

    /// Why the call was refused, if it was.
    pub(crate) fn refusal(&self) -> Option<&Error> {
        self.refused.as_ref()
    }

    fn core(&self) -> &Core {
        self.status.core()
    }

    pub(crate) fn ready(&self) -> bool {
        self.status.check_timeouts();
        self.core().ready()
    }

    pub(crate) fn successful(&self) -> Option<bool> {
        self.ready()
            .then(|| self.refused.is_none() && self.core().failed() == 0)
    }

    pub(crate) fn progress(&self) -> usize {
        self.status.check_timeouts();
        self.core().resolved()
    }

    pub(crate) fn len(&self) -> usize {
        self.core().len()
    }

    /// Waits until ready or `deadline`; on an interrupt aborts and fails.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        if let Some(refusal) = &self.refused {
            return Err(refusal.clone());
        }
        let status = &self.status;
        match self
            .core()
            .wait(&|c| c.ready(), deadline, true, &|| status.check_timeouts())
        {
            Wait::Met => Ok(true),
            Wait::TimedOut => Ok(false),
            Wait::Interrupted => {
                self.status.abort();
                Err(Error::Interrupted)
            }
        }
    }

    pub(crate) fn wait(&self) -> Result<(), Error> {
        self.wait_until(None).map(|_| ())
    }

    pub(crate) fn wait_timeout(&self, d: Duration) -> bool {
        if self.refused.is_some() {
            return true;
        }
        // A deadline past what `Instant` can hold is no deadline. An interrupt during a
        // bounded wait still aborts; the caller sees "not ready".
        self.wait_until(Instant::now().checked_add(d))
            .unwrap_or(false)
    }

    pub(crate) fn snapshot(&self) -> Progress {
        let core = self.core();
        Progress {
            done: self.progress(),
            total: core.len(),
            failed: core.failed(),
            elapsed: self
                .wall_time()
                .unwrap_or_else(|| core.submitted().elapsed()),
        }
    }

    pub(crate) fn wait_interactive(&self) -> Result<(), Error> {
        if let Some(refusal) = &self.refused {
            // No bar: there is no progress to show for a call that never started.
            return Err(refusal.clone());
        }
        progress::show_while(&|| self.snapshot(), &mut |step| {
            self.wait_until(Instant::now().checked_add(step))
        })
    }

    pub(crate) fn abort(&self) {
        if !self.core().ready() {
            self.status.abort();
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.core().submitted().elapsed()
    }

    pub(crate) fn wall_time(&self) -> Option<Duration> {
        let core = self.core();
        if core.len() == 0 {
            return Some(Duration::ZERO);
        }
        core.completed().map(|t| t.duration_since(core.submitted()))
    }

    pub(crate) fn serial_time(&self) -> Duration {
        self.core().serial_time()
    }

    pub(crate) fn speedup(&self) -> Option<f64> {
        let wall = self.wall_time()?.as_secs_f64();
        (wall > 0.0).then(|| self.serial_time().as_secs_f64() / wall)
    }

    pub(crate) fn errors(&self) -> Vec<TaskError> {
        self.status.errors()
    }

    pub(crate) fn state(&self) -> State {
        if self.refused.is_some() {
            return State::Failed;
        }
        self.status.check_timeouts();
        self.core().state()
    }

    pub(crate) fn targets(&self) -> &[usize] {
        self.core().targets()
    }
}

/// Generates the accessors both result types share, delegating to their `Tracker`.
macro_rules! tracker_accessors {
    () => {
        /// The accessors' source, for the renderers that summarise either result type.
        pub(crate) fn tracker(&self) -> &crate::result::Tracker {
            &self.tracker
        }

        /// Whether every task has finished (successfully or not).
        pub fn ready(&self) -> bool {
            self.tracker.ready()
        }

        /// `None` while running; then whether every task succeeded.
        pub fn successful(&self) -> Option<bool> {
            self.tracker.successful()
        }

        /// How many tasks (items, never chunks) have finished.
        pub fn progress(&self) -> usize {
            self.tracker.progress()
        }

        /// Blocks until every task has finished.
        ///
        /// # Errors
        /// [`Error::Interrupted`](crate::Error::Interrupted) on a kernel interrupt
        /// (polled every 50 ms); the pending tasks are then aborted and the running ones
        /// see [`cancelled()`](crate::cancelled). Task failures are not an error here;
        /// see `get`. A call refused before it started (too many items) returns why.
        pub fn wait(&self) -> Result<(), crate::Error> {
            self.tracker.wait()
        }

        /// Blocks until every task has finished or `timeout` passes; returns
        /// [`ready()`](Self::ready). A timeout too long to represent (`Duration::MAX`)
        /// waits without bound. An interrupt aborts the call and returns `false`.
        pub fn wait_timeout(&self, timeout: std::time::Duration) -> bool {
            self.tracker.wait_timeout(timeout)
        }

        /// [`wait`](Self::wait) with a live progress bar: updated in place in a notebook,
        /// redrawn on stderr in a terminal, one final line with `RUSTPX_NONINTERACTIVE=1`.
        ///
        /// # Errors
        /// As [`wait`](Self::wait).
        pub fn wait_interactive(&self) -> Result<(), crate::Error> {
            self.tracker.wait_interactive()
        }

        /// The current [`Progress`](crate::Progress) numbers (what the bar shows).
        pub fn progress_snapshot(&self) -> crate::Progress {
            self.tracker.snapshot()
        }

        /// Aborts: pending tasks never start (they fail as
        /// [`Cancelled`](crate::TaskErrorKind::Cancelled)); running ones see
        /// [`cancelled()`](crate::cancelled). Does nothing once ready.
        pub fn abort(&self) {
            self.tracker.abort()
        }

        /// Time since submission.
        pub fn elapsed(&self) -> std::time::Duration {
            self.tracker.elapsed()
        }

        /// Time from submission to the last task's end, once ready.
        pub fn wall_time(&self) -> Option<std::time::Duration> {
            self.tracker.wall_time()
        }

        /// The sum of the tasks' own run times (what a serial loop would have taken).
        pub fn serial_time(&self) -> std::time::Duration {
            self.tracker.serial_time()
        }

        /// `serial_time / wall_time`, once ready.
        pub fn speedup(&self) -> Option<f64> {
            self.tracker.speedup()
        }

        /// The failures so far, by task index.
        pub fn errors(&self) -> Vec<crate::TaskError> {
            let mut e = self.tracker.errors();
            e.sort_by_key(|e| e.task);
            e
        }

        /// Where the call is in its life.
        pub fn state(&self) -> crate::State {
            self.tracker.state()
        }

        /// The workers the call runs on.
        pub fn targets(&self) -> &[usize] {
            self.tracker.targets()
        }
    };
}
pub(crate) use tracker_accessors;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Job;
    use crate::registry::Shared;
    use crate::schedule::Plan;

    fn tracked(len: usize) -> (Arc<Job<'static, usize>>, Tracker) {
        let job = Job::new(len, Plan::Static, &[0], None, Box::new(|_, i| Ok(i)));
        let tracker = Tracker::new(job.clone(), Client::local(1).unwrap());
        (job, tracker)
    }

    #[test]
    fn a_tracker_follows_its_job_from_pending_to_done() {
        let (job, t) = tracked(3);
        assert_eq!((t.state(), t.progress(), t.len()), (State::Pending, 0, 3));
        assert_eq!(
            (t.ready(), t.successful(), t.wall_time()),
            (false, None, None)
        );
        assert!(!t.wait_timeout(Duration::from_millis(5)));
        crate::job::Task::run(&*job, &Shared::new(1), 0, 0);
        assert!(t.wait_timeout(Duration::ZERO));
        assert_eq!((t.state(), t.successful()), (State::Done, Some(true)));
        assert!(t.wall_time().is_some() && t.errors().is_empty());
        let snapshot = t.snapshot();
        assert_eq!((snapshot.done, snapshot.total, snapshot.failed), (3, 3, 0));
        t.abort();
        assert_eq!(t.state(), State::Done, "abort does nothing once ready");
    }

    #[test]
    fn an_empty_call_is_done_at_once_and_abort_fails_the_rest() {
        let (_, empty) = tracked(0);
        assert!(empty.ready() && empty.wait().is_ok());
        assert_eq!(
            (empty.wall_time(), empty.speedup()),
            (Some(Duration::ZERO), None)
        );
        let (_, t) = tracked(2);
        t.abort();
        assert_eq!((t.state(), t.successful()), (State::Aborted, Some(false)));
        assert_eq!(t.errors().len(), 2);
    }
}
