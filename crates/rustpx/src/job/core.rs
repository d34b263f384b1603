//! The part of a job that does not depend on its result type: counters, flags, timing,
//! and the waiters' lock and condvar.

use super::wait;
use crate::interrupt;
use crate::schedule::{Cursor, Plan};
use crate::sync::{self, AtomicUsize, Condvar, Mutex};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a waiter spins before it sleeps: an `apply` on an idle worker returns sooner.
#[cfg(not(loom))]
const WAIT_SPIN: Duration = Duration::from_micros(50);
/// Under loom every load of the spin would be a scheduling point; the models check the
/// sleeping protocol, so they check the condition once and go to sleep.
#[cfg(loom)]
const WAIT_SPIN: Duration = Duration::ZERO;

/// The lifecycle of a call, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Submitted; no task has started.
    Pending,
    /// Some tasks have started; not all are finished.
    Running,
    /// Every task succeeded.
    Done,
    /// Every task finished and at least one failed.
    Failed,
    /// Aborted (by `abort()` or an interrupt).
    Aborted,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Met,
    TimedOut,
    Interrupted,
}

/// (item index, start time) of the task a worker position is running.
pub(super) type RunningTask = (usize, Instant);

/// The non-generic part of a job.
pub(crate) struct Core {
    pub(super) len: usize,
    pub(super) plan: Plan,
    pub(super) cursors: Box<[Cursor]>,
    pub(super) targets: Box<[usize]>,
    resolved: AtomicUsize,
    pub(super) finished: AtomicUsize,
    failed: AtomicUsize,
    pub(super) aborted: AtomicBool,
    pub(super) cancel: AtomicBool,
    submitted: Instant,
    pub(super) started: AtomicBool,
    completed: OnceLock<Instant>,
    serial_nanos: AtomicU64,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
    pub(super) timeout: Option<Duration>,
    pub(super) running: Box<[Mutex<Option<RunningTask>>]>,
    pub(super) task_cancel: Box<[AtomicBool]>,
}

impl Core {
    /// The state of a call of `len` items on `targets`, none started.
    pub(super) fn new(
        len: usize,
        plan: Plan,
        targets: &[usize],
        timeout: Option<Duration>,
    ) -> Core {
        let n = targets.len();
        Core {
            len,
            plan,
            cursors: plan.cursors(len, n),
            targets: targets.into(),
            resolved: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
            cancel: AtomicBool::new(false),
            submitted: Instant::now(),
            started: AtomicBool::new(false),
            completed: OnceLock::new(),
            serial_nanos: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cv: Condvar::new(),
            timeout,
            running: (0..n).map(|_| Mutex::new(None)).collect(),
            task_cancel: (0..n).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn resolved(&self) -> usize {
        self.resolved.load(Ordering::Acquire)
    }
    pub(crate) fn ready(&self) -> bool {
        self.resolved() == self.len
    }
    /// Whether every worker is done with every item (ran, skipped or closed).
    pub(crate) fn all_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst) == self.len
    }
    pub(crate) fn failed(&self) -> usize {
        self.failed.load(Ordering::Acquire)
    }
    pub(crate) fn submitted(&self) -> Instant {
        self.submitted
    }
    /// When the last item was resolved. The publisher that resolves it sets the time
    /// just after its count, so a reader that already sees every item resolved waits
    /// for those few instructions instead of reporting "not finished" for a finished call.
    pub(crate) fn completed(&self) -> Option<Instant> {
        if self.len > 0 && self.ready() {
            Some(*self.completed.wait())
        } else {
            self.completed.get().copied()
        }
    }
    pub(crate) fn serial_time(&self) -> Duration {
        Duration::from_nanos(self.serial_nanos.load(Ordering::Relaxed))
    }
    pub(crate) fn targets(&self) -> &[usize] {
        &self.targets
    }
    pub(crate) fn aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }
    pub(crate) fn state(&self) -> State {
        if self.aborted() {
            State::Aborted
        } else if self.ready() {
            if self.failed() == 0 {
                State::Done
            } else {
                State::Failed
            }
        } else if self.started.load(Ordering::Relaxed) || self.resolved() > 0 {
            State::Running
        } else {
            State::Pending
        }
    }

    /// Adds a worker's (or an abort's) counts and wakes registered waiters.
    pub(super) fn publish(&self, resolved: usize, finished: usize, failed: usize, nanos: u64) {
        if nanos > 0 {
            self.serial_nanos.fetch_add(nanos, Ordering::Relaxed);
        }
        if failed > 0 {
            self.failed.fetch_add(failed, Ordering::SeqCst);
        }
        if resolved > 0 {
            let before = self.resolved.fetch_add(resolved, Ordering::SeqCst);
            if before + resolved == self.len {
                let _ = self.completed.set(Instant::now());
            }
        }
        if finished > 0 {
            self.finished.fetch_add(finished, Ordering::SeqCst);
        }
        sync::seqcst_order_for_loom();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.cv.notify_all();
        }
    }

    /// Blocks until `cond` holds, `deadline` passes, or (when `interruptible`) an
    /// interrupt is taken. `poll` runs at least every [`interrupt::POLL_INTERVAL`].
    pub(crate) fn wait(
        &self,
        cond: &dyn Fn(&Core) -> bool,
        deadline: Option<Instant>,
        interruptible: bool,
        poll: &dyn Fn(),
    ) -> Wait {
        if wait::spin_until(WAIT_SPIN, || cond(self)) {
            return Wait::Met;
        }
        loop {
            poll();
            if cond(self) {
                return Wait::Met;
            }
            if interruptible && interrupt::take() {
                return Wait::Interrupted;
            }
            let now = Instant::now();
            let mut until = now + interrupt::POLL_INTERVAL;
            if let Some(d) = deadline {
                if now >= d {
                    return Wait::TimedOut;
                }
                until = until.min(d);
            }
            self.sleep_until(cond, until);
        }
    }

    /// Sleeps until woken or `until`, registered as a waiter so no wake-up is lost: a
    /// publisher adds its counts, then reads `waiters` (both sequentially consistent);
    /// this adds to `waiters`, then reads the counts. `cond` loads the counts with
    /// `Acquire` only, which the total order of `SeqCst` operations does not cover: the
    /// fence puts the read after the registration, so that either the read sees the
    /// publisher's counts or the publisher sees the registration. Without it both may
    /// miss (the memory model allows it) and the waiter sleeps through the completion
    /// until `until`. One fence per sleep, on the path that is about to block anyway.
    fn sleep_until(&self, cond: &dyn Fn(&Core) -> bool, until: Instant) {
        let mut guard = self.lock.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        sync::fence(Ordering::SeqCst);
        if !cond(self) {
            self.cv.wait_until(&mut guard, until);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every waiter (used when something other than a count changed).
    pub(crate) fn notify(&self) {
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }
}
